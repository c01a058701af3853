//! `cairn tls init`: a development CA and the certificates it signs (rcgen), then the exact
//! settings for the server and for clients.
//!
//! The directory gets `ca.crt`/`ca.key` (the CA), `server.crt`/`server.key` (for the names
//! given with `--host`) and `client.crt`/`client.key` (for `tls-auth-clients yes`, Redis's
//! default). Run again on the same directory, it keeps the CA and issues new server and client
//! certificates: a rotation that clients trusting `ca.crt` do not notice once the server has
//! reloaded them (CONFIG SET tls-cert-file …, or SIGHUP). Each file is written beside its final
//! name and renamed over it, so a reload never reads half a file; keys are readable by their
//! owner only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The CA's name, followed by a fingerprint of its public key: two CAs made by this command
/// have different names (a client trusting the wrong one reports an unknown issuer), and a CA
/// found in the directory is used again by rebuilding its parameters from its key alone.
const CA_NAME: &str = "Cairn development CA";
/// The CA outlives many rotations of the certificates it signs.
const CA_DAYS: u64 = 10 * 365;
/// Clocks a little behind still accept a certificate made just now.
const BACKDATE_DAYS: u64 = 1;
const SECONDS_PER_DAY: u64 = 86_400;

#[derive(Debug, Parser)]
#[command(
    name = "cairn tls init",
    about = "Write a development CA and a server certificate signed by it, then print the \
             settings for Cairn and its clients"
)]
struct Args {
    /// A name clients connect to (DNS name or IP address); repeat for more
    /// [default: localhost and 127.0.0.1].
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Where the files go; a CA already there is kept and signs the new certificates.
    #[arg(long, default_value = "cairn-tls")]
    dir: PathBuf,
    /// The TLS port shown in the printed settings.
    #[arg(long = "tls-port", default_value_t = 6379)]
    tls_port: u16,
    /// Validity of the server and client certificates, in days.
    #[arg(long, default_value_t = 825)]
    days: u64,
}

/// Runs the command with the arguments after `cairn tls init`; the exit status.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            eprintln!(
                "cairn tls init: {} (see cairn tls init --help)",
                first.trim_start_matches("error: ")
            );
            return 2;
        }
    };
    match run(args) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("cairn tls init: {e:#}");
            1
        }
    }
}

fn run(mut args: Args) -> anyhow::Result<String> {
    if args.hosts.is_empty() {
        args.hosts = vec!["localhost".into(), "127.0.0.1".into()];
    }
    if args.days == 0 || args.days > CA_DAYS {
        bail!("--days must be between 1 and {CA_DAYS}");
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let now_s = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let (ca, reused) = ca(&dir, now_s)?;
    let server = leaf(&args.hosts, &ca, now_s, args.days, Role::Server)?;
    let client = leaf(
        &["default".to_string()],
        &ca,
        now_s,
        args.days,
        Role::Client,
    )?;
    check_chain(&dir.join("ca.crt"), &server.0, &args.hosts[0])?;
    write_file(&dir.join("server.crt"), &server.0, false)?;
    write_file(&dir.join("server.key"), &server.1, true)?;
    write_file(&dir.join("client.crt"), &client.0, false)?;
    write_file(&dir.join("client.key"), &client.1, true)?;
    Ok(report(&args, &dir, reused, now_s))
}

/// The CA in `dir` if there is one, else a new one written there; true when reused.
fn ca(dir: &Path, now_s: u64) -> anyhow::Result<(Issuer<'static, KeyPair>, bool)> {
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    match (crt.exists(), key.exists()) {
        (true, true) => {
            let pem = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            let key_pair = KeyPair::from_pem(&pem)
                .with_context(|| format!("{}: not a private key", key.display()))?;
            Ok((Issuer::new(ca_params(&key_pair)?, key_pair), true))
        }
        (false, false) => {
            let key_pair = KeyPair::generate()?;
            let mut params = ca_params(&key_pair)?;
            set_validity(&mut params, now_s, CA_DAYS);
            let cert = params.self_signed(&key_pair)?;
            write_file(&key, &key_pair.serialize_pem(), true)?;
            write_file(&crt, &cert.pem(), false)?;
            Ok((Issuer::new(params, key_pair), false))
        }
        _ => bail!(
            "{} has only one of ca.crt and ca.key: remove it or use another --dir",
            dir.display()
        ),
    }
}

/// The CA's parameters, a function of its key.
fn ca_params(key: &KeyPair) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    let id = fnv1a(key.public_key_raw());
    name.push(DnType::CommonName, format!("{CA_NAME} {:08x}", id >> 32));
    name.push(DnType::OrganizationName, "Cairn");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// FNV-1a, 64 bits: a stable fingerprint for a name (not a security property).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

/// A certificate for `names` signed by `ca`, and its key: (certificate PEM, key PEM).
fn leaf(
    names: &[String],
    ca: &Issuer<'static, KeyPair>,
    now_s: u64,
    days: u64,
    role: Role,
) -> anyhow::Result<(String, String)> {
    let mut params = match role {
        // Names become subject alternative names (IP addresses as such).
        Role::Server => CertificateParams::new(names.to_vec())
            .with_context(|| format!("bad --host in {names:?}"))?,
        Role::Client => CertificateParams::new(Vec::<String>::new())?,
    };
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, names[0].as_str());
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    // ECDSA keys only sign (key exchange is ephemeral ECDH).
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match role {
        Role::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Role::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now_s, days);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Verifies the new server certificate against `ca.crt` as a client would, so that a CA in
/// the directory that this command did not make is reported instead of yielding
/// certificates nobody can verify.
fn check_chain(ca_file: &Path, server_pem: &str, host: &str) -> anyhow::Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()?;
    let leaf = CertificateDer::from_pem_slice(server_pem.as_bytes())?;
    let name = ServerName::try_from(host.to_string())?;
    verifier
        .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
        .map_err(|e| {
            anyhow::anyhow!(
                "{} did not sign the new certificate ({e}); was it made by cairn tls init? Use another --dir",
                ca_file.display()
            )
        })?;
    Ok(())
}

/// Writes `text` beside `path` and renames it over `path`; keys are private to their owner.
fn write_file(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Valid from a day before `now_s` for `days` days after it (whole days, UTC).
fn set_validity(params: &mut CertificateParams, now_s: u64, days: u64) {
    let today = now_s / SECONDS_PER_DAY;
    let (y, m, d) = civil_date(today - BACKDATE_DAYS);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = civil_date(today + days);
    params.not_after = rcgen::date_time_ymd(y, m, d);
}

/// (year, month, day) of a day number counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_date(days: u64) -> (i32, u8, u8) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// What was written, and the settings to use it: server flags, redis-cli, ioredis.
fn report(args: &Args, dir: &Path, reused: bool, now_s: u64) -> String {
    let f = |name: &str| dir.join(name).display().to_string();
    let (y, m, d) = civil_date(now_s / SECONDS_PER_DAY + args.days);
    let host = &args.hosts[0];
    let port = args.tls_port;
    let ca_line = if reused {
        "kept the CA already there (certificates it signed before stay trusted)"
    } else {
        "a new development CA (keep ca.key private; clients trust ca.crt)"
    };
    format!(
        "Wrote TLS files to {dir}:\n\
         \x20 ca.crt, ca.key          {ca_line}\n\
         \x20 server.crt, server.key  server certificate for {hosts}, valid until {y}-{m:02}-{d:02}\n\
         \x20 client.crt, client.key  client certificate (CN=default), valid until {y}-{m:02}-{d:02}\n\
         \n\
         Start Cairn serving TLS only (plain port off):\n\
         \x20 cairn --port 0 --tls-port {port} --tls-cert-file {server_crt} --tls-key-file {server_key} --tls-ca-cert-file {ca}\n\
         \n\
         Connect with redis-cli:\n\
         \x20 redis-cli --tls --cacert {ca} --cert {client_crt} --key {client_key} -h {host} -p {port}\n\
         \n\
         Connect with ioredis:\n\
         \x20 new Redis({{ host: '{host}', port: {port}, tls: {{ ca: fs.readFileSync('{ca}'), cert: fs.readFileSync('{client_crt}'), key: fs.readFileSync('{client_key}') }} }})\n\
         \n\
         Client certificates are required by default (tls-auth-clients yes, as in Redis). With\n\
         --tls-auth-clients no, clients need only the CA: drop --cert/--key and cert/key above.\n\
         To rotate, run this again with the same --dir, then reload the server: CONFIG SET\n\
         tls-cert-file {server_crt}, or kill -HUP its process.\n",
        dir = dir.display(),
        hosts = args.hosts.join(", "),
        server_crt = f("server.crt"),
        server_key = f("server.key"),
        ca = f("ca.crt"),
        client_crt = f("client.crt"),
        client_key = f("client.key"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(civil_date(20_000), (2024, 10, 4));
    }
}
