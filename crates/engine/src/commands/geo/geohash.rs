//! The geohash arithmetic behind the geo commands, with the same numbers as Redis's
//! `geohash.c` and `geohash_helper.c`: a position is a 52-bit interleaving of 26 latitude bits
//! (even bits) and 26 longitude bits (odd bits) over the Web Mercator limits, stored as a
//! sorted-set score; a search covers its shape with a box of the right size and its eight
//! neighbours, then filters by exact distance (haversine on a sphere of Redis's radius).

/// Bits per coordinate of a stored position (26 × 2 = 52, exact in a double).
pub const STEP_MAX: u8 = 26;

pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, the sphere Redis measures on.
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator projection's width: the largest range a step-1 box stands for.
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// A geohash of `step` bits per coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    /// The zeroed hash marks a neighbour a search skips.
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score prefix.
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Range {
    min: f64,
    max: f64,
}

/// The box a hash stands for.
#[derive(Clone, Copy, Debug, Default)]
struct Area {
    long: Range,
    lat: Range,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the 32 bits of `v` over the even bits of the result.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The even bits of `v`, packed.
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// `geohashEncode`: `None` outside the Mercator limits or the given ranges.
fn encode_in(long_range: Range, lat_range: Range, long: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || long < long_range.min || long > long_range.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (long - long_range.min) / (long_range.max - long_range.min) * scale;
    // C converts the offsets to uint32_t (truncating) for the interleave.
    let bits = spread(lat_offset as u32) | (spread(long_offset as u32) << 1);
    Some(Hash { bits, step })
}

pub fn encode(long: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in(LONG_RANGE, LAT_RANGE, long, lat, step)
}

/// The standard geohash (latitude over ±90) of a position, as GEOHASH spells it.
pub fn encode_standard(long: f64, lat: f64) -> Option<Hash> {
    let lat_range = Range {
        min: -90.0,
        max: 90.0,
    };
    encode_in(LONG_RANGE, lat_range, long, lat, STEP_MAX)
}

fn decode_area(hash: Hash) -> Area {
    let lat_bits = squash(hash.bits);
    let long_bits = squash(hash.bits >> 1);
    let scale = (1u64 << hash.step) as f64;
    let lat_span = LAT_RANGE.max - LAT_RANGE.min;
    let long_span = LONG_RANGE.max - LONG_RANGE.min;
    let at = |min: f64, i: u64, span: f64| min + (i as f64 / scale) * span;
    Area {
        lat: Range {
            min: at(LAT_RANGE.min, u64::from(lat_bits), lat_span),
            max: at(LAT_RANGE.min, u64::from(lat_bits) + 1, lat_span),
        },
        long: Range {
            min: at(LONG_RANGE.min, u64::from(long_bits), long_span),
            max: at(LONG_RANGE.min, u64::from(long_bits) + 1, long_span),
        },
    }
}

/// A sorted-set score as C's `(uint64_t)` cast of the double reads it (x86-64: values below
/// 2^63 convert through a signed conversion, so a negative score wraps).
fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if score < TWO_63 {
        if score >= -TWO_63 {
            score as i64 as u64
        } else {
            1 << 63
        }
    } else if score < 2.0 * TWO_63 {
        ((score - TWO_63) as i64 as u64) ^ (1 << 63)
    } else {
        1 << 63
    }
}

/// The (longitude, latitude) a stored score stands for: its box's centre, clamped.
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode_area(Hash {
        bits: score_bits(score),
        step: STEP_MAX,
    });
    let long = ((area.long.min + area.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (long, lat)
}

/// The 52-bit score of a position inside the limits.
pub fn score_of(long: f64, lat: f64) -> u64 {
    encode(long, lat, STEP_MAX)
        .expect("coordinates checked against the limits")
        .align52()
}

// ---------------------------------------------------------------------------------------------
// Neighbours

fn move_x(hash: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

fn moved(hash: Hash, dx: i8, dy: i8) -> Hash {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

// ---------------------------------------------------------------------------------------------
// Distances

/// Distance along a meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters (Redis's `geohashGetDistance`).
pub fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(long2) - deg_rad(long1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

// ---------------------------------------------------------------------------------------------
// Search shapes

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Radius, in the shape's unit.
    Circle(f64),
    /// Width and height, in the shape's unit.
    Box(f64, f64),
}

/// A search area: its centre, size, and the unit's size in meters.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub long: f64,
    pub lat: f64,
    pub kind: Kind,
    pub to_meters: f64,
}

impl Shape {
    /// The distance in meters from the centre to a point inside the shape, `None` outside.
    pub fn contains(&self, long: f64, lat: f64) -> Option<f64> {
        match self.kind {
            Kind::Circle(radius) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= radius * self.to_meters).then_some(d)
            }
            Kind::Box(width, height) => {
                let (width_m, height_m) = (width * self.to_meters, height * self.to_meters);
                if lat_distance(lat, self.lat) > height_m / 2.0 {
                    return None;
                }
                if distance(long, lat, self.long, lat) > width_m / 2.0 {
                    return None;
                }
                Some(distance(self.long, self.lat, long, lat))
            }
        }
    }

    /// `geohashBoundingBox`: (min long, min lat, max long, max lat).
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = match self.kind {
            Kind::Circle(r) => (r * self.to_meters, r * self.to_meters),
            Kind::Box(w, h) => (h / 2.0 * self.to_meters, w / 2.0 * self.to_meters),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.long - delta,
            self.lat - lat_delta,
            self.long + delta,
            self.lat + lat_delta,
        ]
    }

    /// The search radius in meters (the half-diagonal for a box).
    fn radius_m(&self) -> f64 {
        let r = match self.kind {
            Kind::Circle(r) => r,
            Kind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        };
        r * self.to_meters
    }
}

/// `geohashEstimateStepsByRadius`.
fn steps_for_radius(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    // Make sure the range is included in most of the base cases.
    step -= 2;
    // Wider boxes towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// The boxes a search scans, in Redis's order: the centre's box, then north, south, east,
/// west, north-east, north-west, south-east, south-west; zeroed ones are skipped.
pub fn search_boxes(shape: &Shape) -> [Hash; 9] {
    let [min_long, min_lat, max_long, max_lat] = shape.bounds();
    let mut steps = steps_for_radius(shape.radius_m(), shape.lat);
    let around = |steps: u8| {
        let hash = encode(shape.long, shape.lat, steps).unwrap_or_default();
        (hash, decode_area(hash))
    };
    let (mut hash, mut area) = around(steps);
    // Near the edge of the covered area the estimated step may be one too fine.
    let north = decode_area(moved(hash, 0, 1));
    let south = decode_area(moved(hash, 0, -1));
    let east = decode_area(moved(hash, 1, 0));
    let west = decode_area(moved(hash, -1, 0));
    let decrease = north.lat.max < max_lat
        || south.lat.min > min_lat
        || east.long.max < max_long
        || west.long.min > min_long;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, area) = around(steps);
    }
    let mut n = [
        hash,
        moved(hash, 0, 1),
        moved(hash, 0, -1),
        moved(hash, 1, 0),
        moved(hash, -1, 0),
        moved(hash, 1, 1),
        moved(hash, -1, 1),
        moved(hash, 1, -1),
        moved(hash, -1, -1),
    ];
    // Leave out the boxes the shape cannot reach.
    if steps >= 2 {
        let zero = Hash::default();
        let mut clear = |idx: [usize; 3]| idx.iter().for_each(|&i| n[i] = zero);
        if area.lat.min < min_lat {
            clear([2, 7, 8]);
        }
        if area.lat.max > max_lat {
            clear([1, 5, 6]);
        }
        if area.long.min < min_long {
            clear([4, 8, 6]);
        }
        if area.long.max > max_long {
            clear([3, 7, 5]);
        }
    }
    n
}

/// Whether a box is to be scanned: not zeroed.
pub fn is_live(hash: Hash) -> bool {
    !hash.is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_encodes_and_decodes_like_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo": score 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), 3479099956230698);
        let (long, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{long:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
    }

    #[test]
    fn interleave_round_trips() {
        for v in [0u32, 1, 0x3ff_ffff, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }

    #[test]
    fn distance_palermo_catania() {
        // GEODIST Sicily Palermo Catania: "166274.1516" meters.
        let (a, b) = (
            decode_score(3479099956230698.0),
            decode_score(3479447370796909.0),
        );
        let d = distance(a.0, a.1, b.0, b.1);
        assert_eq!(format!("{:.4}", d), "166274.1516");
    }
}
