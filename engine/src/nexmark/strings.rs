//! The random text and prices inside events: Beam's `StringsGenerator` and
//! `PriceGenerator`, and the bid channels and URLs of the nexmark-flink schema.
//!
//! Everything here draws from the event's [`JavaRandom`] in Beam's order, so the strings
//! are as reproducible as the ids.

use super::random::JavaRandom;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// The shortest string [`next_string`] makes before trimming.
const MIN_STRING_LENGTH: i32 = 3;

/// A random string of 3 to `max_length - 1` characters, lower-case letters and (one in 13)
/// spaces, trimmed (Beam's `nextString`).
pub(crate) fn next_string(random: &mut JavaRandom, max_length: i32) -> String {
    let s = next_string_with(random, max_length, ' ');
    // Java's String.trim(); the only character at or below U+0020 here is the space.
    let trimmed = s.trim_matches(' ');
    if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_owned()
    }
}

/// [`next_string`]'s draws, with `special` in place of the space and no trimming.
fn next_string_with(random: &mut JavaRandom, max_length: i32, special: char) -> String {
    let len = MIN_STRING_LENGTH + random.next_int_bounded(max_length - MIN_STRING_LENGTH);
    let mut s = String::with_capacity(len as usize);
    for _ in 0..len {
        if random.next_int_bounded(13) == 0 {
            s.push(special);
        } else {
            s.push(char::from(b'a' + random.next_int_bounded(26) as u8));
        }
    }
    s
}

/// A random string of exactly `length` characters, six per `nextInt()` (Beam's
/// `nextExactString`).
///
/// Java computes `(char) ('a' + rnd % 26)` on a signed `rnd`, so a negative draw gives a
/// character *below* `a`: the alphabet is `H` to `z` (ASCII, never a comma or a quote).
/// Kept as is: it is what Beam's events contain.
pub(crate) fn next_exact_string(random: &mut JavaRandom, length: i32) -> String {
    let mut bytes = vec![0u8; length.max(0) as usize];
    for chunk in bytes.chunks_mut(6) {
        // Six characters per draw (log_26(2^31)), the last draw's first ones kept.
        let rnd = random.next_int();
        // Java's truncating `rnd % 26` and `rnd /= 26`, on the magnitude (unsigned
        // divisions by a constant are a multiply and a shift): the quotient keeps the sign
        // of `rnd` (or is 0), the remainder takes it — applied without a branch, as half
        // the draws are negative.
        let sign = 1 - 2 * i32::from(rnd < 0);
        let mut m = rnd.unsigned_abs();
        for c in chunk.iter_mut() {
            let q = m / 26;
            *c = (i32::from(b'a') + sign * (m - q * 26) as i32) as u8;
            m = q;
        }
    }
    // Every byte is in b'H'..=b'z'.
    String::from_utf8(bytes).expect("ASCII")
}

/// Padding such that `current_size` plus its length averages `desired_average_size`:
/// uniform within ±20 % of the gap (Beam's `nextExtra`). Only its length is drawn here;
/// its characters are the event's last draws, made when the padding is read
/// ([`Padding::text`]), so `random` is not advanced past them.
pub(crate) fn next_extra(random: &mut JavaRandom, current_size: i32, desired_average_size: i32) -> Padding {
    if current_size > desired_average_size {
        return Padding::default();
    }
    let desired = desired_average_size - current_size;
    // Java's (int) Math.round(double): half up, which f64::round is for non-negatives.
    let delta = (f64::from(desired) * 0.2).round() as i32;
    let min_size = desired - delta;
    let size = min_size + if delta == 0 { 0 } else { random.next_int_bounded(2 * delta) };
    Padding::drawn(random.clone(), size.max(0) as u32)
}

/// A price in cents, log-uniform between $1 and $1 000 000: `round(10^(6u) × 100)`
/// (Beam's `nextPrice`).
#[inline]
pub(crate) fn next_price(random: &mut JavaRandom) -> u64 {
    // Java's Math.round(double) is half up; f64::round agrees for these positive values.
    (10f64.powf(random.next_double() * 6.0) * 100.0).round() as u64
}

/// A bid is from one of the hot channels with probability `1 − 1/HOT_CHANNELS_RATIO`.
const HOT_CHANNELS_RATIO: i32 = 2;
/// The number of other channels, `channel-0` to `channel-9999`.
const CHANNELS_NUMBER: i32 = 10_000;
/// The hot channels.
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// Every channel's fixed URL, built on first use.
struct Channels {
    hot_urls: Vec<String>,
    names: Vec<String>,
    urls: Vec<String>,
}

fn channels() -> &'static Channels {
    static CHANNELS: OnceLock<Channels> = OnceLock::new();
    CHANNELS.get_or_init(|| {
        // Hot channel i is seeded with -(i + 1), channel k with k: disjoint seeds.
        let hot_urls = (0..HOT_CHANNELS.len() as i64).map(|i| base_url(&mut JavaRandom::new(-(i + 1)))).collect();
        let (names, urls) = (0..CHANNELS_NUMBER)
            .map(|k| {
                let mut random = JavaRandom::new(k.into());
                let mut url = base_url(&mut random);
                if random.next_int_bounded(10) > 0 {
                    // Java's Math.abs(Integer.reverse(k)): k = 1 reverses to i32::MIN, whose
                    // absolute value is itself.
                    url.push_str(&format!("&channel_id={}", k.reverse_bits().wrapping_abs()));
                }
                (format!("channel-{k}"), url)
            })
            .unzip();
        Channels { hot_urls, names, urls }
    })
}

/// `https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1`, path segments of 3 or 4
/// letters and underscores.
fn base_url(random: &mut JavaRandom) -> String {
    let a = next_string_with(random, 5, '_');
    let b = next_string_with(random, 5, '_');
    let c = next_string_with(random, 5, '_');
    format!("https://www.nexmark.com/{a}/{b}/{c}/item.htm?query=1")
}

/// The channel and URL of a bid, drawn right after its price as nexmark-flink does: a hot
/// channel half the time, else one of 10 000 others.
///
/// nexmark-flink draws each channel's URL from an unseeded `Random` once per process, so
/// its URLs differ between runs; here each channel's URL comes from a `JavaRandom` seeded
/// with the channel's number, so URLs are fixed. Only the two or three draws that pick the
/// channel come from the event's own random stream, exactly as in nexmark-flink.
pub(crate) fn next_channel(random: &mut JavaRandom) -> (&'static str, &'static str) {
    let channels = channels();
    if random.next_int_bounded(HOT_CHANNELS_RATIO) > 0 {
        let i = random.next_int_bounded(HOT_CHANNELS.len() as i32) as usize;
        (HOT_CHANNELS[i], &channels.hot_urls[i])
    } else {
        let k = random.next_int_bounded(CHANNELS_NUMBER) as usize;
        (&channels.names[k], &channels.urls[k])
    }
}

/// The padding (`extra`) that brings an event to its configured average size: text read
/// from a file, or the generator's draws for it, made text only when it is read. Most
/// queries never read it, and then never spend the time: drawing the padding was a third
/// of generating an event.
///
/// It reads, compares, hashes, prints and serialises as its text (in JSON a string,
/// exactly what Beam's generator writes).
///
/// ```
/// use highwater::nexmark::{Event, Generator, Padding};
/// let Event::Bid(bid) = Generator::default().event(4) else { unreachable!() };
/// let text = bid.extra.text();
/// assert_eq!(text.len(), bid.extra.len());
/// assert_eq!(bid.extra, Padding::from(text.to_string()));
/// assert_eq!(Padding::from("abc").to_string(), "abc");
/// ```
#[derive(Clone, Default)]
pub struct Padding(PaddingText);

#[derive(Clone)]
enum PaddingText {
    Text(String),
    /// `len` characters drawn from `random` (the event's last draws).
    Drawn {
        random: JavaRandom,
        len: u32,
    },
}

impl Default for PaddingText {
    fn default() -> Self {
        PaddingText::Text(String::new())
    }
}

impl Padding {
    /// The padding of `len` characters the generator draws from `random` (Beam's
    /// `nextExactString`), drawn when it is read.
    pub(crate) fn drawn(random: JavaRandom, len: u32) -> Self {
        Padding(PaddingText::Drawn { random, len })
    }

    /// The padding's text.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.0 {
            PaddingText::Text(text) => Cow::Borrowed(text),
            PaddingText::Drawn { random, len } => Cow::Owned(next_exact_string(&mut random.clone(), *len as i32)),
        }
    }

    /// Its length in bytes (one byte a character), known without drawing it.
    pub fn len(&self) -> usize {
        match &self.0 {
            PaddingText::Text(text) => text.len(),
            PaddingText::Drawn { len, .. } => *len as usize,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Padding {
    fn from(text: String) -> Self {
        Padding(PaddingText::Text(text))
    }
}

impl From<&str> for Padding {
    fn from(text: &str) -> Self {
        Padding(PaddingText::Text(text.to_owned()))
    }
}

impl PartialEq for Padding {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (PaddingText::Drawn { random: a, len: m }, PaddingText::Drawn { random: b, len: n })
                if a == b && m == n =>
            {
                true
            }
            _ => self.len() == other.len() && self.text() == other.text(),
        }
    }
}

impl Eq for Padding {}

impl PartialEq<str> for Padding {
    fn eq(&self, other: &str) -> bool {
        self.len() == other.len() && self.text() == other
    }
}

impl PartialEq<&str> for Padding {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl Hash for Padding {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text().hash(state);
    }
}

impl fmt::Debug for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text(), f)
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Serialize for Padding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Padding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Padding::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_strings_use_javas_signed_remainder() {
        // Long enough to see negative draws: their characters fall below 'a'.
        let s = next_exact_string(&mut JavaRandom::new(7), 600);
        assert_eq!(s.len(), 600);
        assert!(s.bytes().all(|b| (b'H'..=b'z').contains(&b)));
        assert!(s.bytes().any(|b| b < b'a'));
    }

    #[test]
    fn extras_average_the_requested_size() {
        let mut random = JavaRandom::new(1);
        let total: usize = (0..10_000).map(|_| 32 + next_extra(&mut random, 32, 100).len()).sum();
        let mean = total as f64 / 10_000.0;
        assert!((mean - 100.0).abs() < 1.0, "mean size {mean}");
        assert_eq!(next_extra(&mut random, 300, 200), "");
    }

    #[test]
    fn prices_stay_between_one_dollar_and_a_million() {
        let mut random = JavaRandom::new(3);
        for _ in 0..100_000 {
            let price = next_price(&mut random);
            assert!((100..=100_000_000).contains(&price), "{price}");
        }
    }

    #[test]
    fn channel_urls_are_fixed_per_channel() {
        let first = next_channel(&mut JavaRandom::new(11));
        let again = next_channel(&mut JavaRandom::new(11));
        assert_eq!(first, again);
        assert!(first.1.starts_with("https://www.nexmark.com/"));
        assert_eq!(channels().urls.len(), 10_000);
        assert!(channels().urls[1].ends_with("&channel_id=-2147483648") || !channels().urls[1].contains('&'));
    }
}
