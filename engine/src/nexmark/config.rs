//! What shapes the generated stream: Beam's `NexmarkConfiguration` defaults and
//! `GeneratorConfig`'s timeline (base time, event rate, rate shape).
//!
//! The configuration is plain data; [`Generator::new`](super::Generator::new) validates it
//! and precomputes the timeline.

use serde::{Deserialize, Serialize};

/// Beam's fixed base time, `2015-07-15T00:00:00.000Z`, in milliseconds since the epoch:
/// event 0 happens then, so every run sees the same event times
/// (`NexmarkUtils.BASE_TIME`, used unless `useWallclockEventTime`).
pub const BASE_TIME_MS: i64 = 1_436_918_400_000;

/// The unit a rate is given in (Beam's `NexmarkUtils.RateUnit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateUnit {
    /// Events per second.
    #[default]
    PerSecond,
    /// Events per minute.
    PerMinute,
}

impl RateUnit {
    /// Microseconds in one unit.
    fn us_per_unit(self) -> i64 {
        match self {
            RateUnit::PerSecond => 1_000_000,
            RateUnit::PerMinute => 60_000_000,
        }
    }

    /// The delay between events at `rate` events per unit, in microseconds, rounded to
    /// nearest (Beam's `rateToPeriodUs`): 10 000 per second is 100 µs.
    ///
    /// ```
    /// use highwater::nexmark::RateUnit;
    /// assert_eq!(RateUnit::PerSecond.period_us(10_000), 100);
    /// assert_eq!(RateUnit::PerSecond.period_us(3), 333_333);
    /// assert_eq!(RateUnit::PerMinute.period_us(60), 1_000_000);
    /// ```
    pub fn period_us(self, rate: i64) -> i64 {
        (self.us_per_unit() + rate / 2) / rate
    }
}

/// How the event rate moves between [`GeneratorConfig::first_event_rate`] and
/// [`GeneratorConfig::next_event_rate`] over each [`GeneratorConfig::rate_period_sec`]
/// (Beam's `NexmarkUtils.RateShape`). Irrelevant when the two rates are equal, as they are
/// by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateShape {
    /// Half the period at the first rate, half at the next.
    Square,
    /// A cosine from the first rate to the next and back, in ten steps. Beam's default.
    #[default]
    Sine,
}

impl RateShape {
    /// The number of steps of one period.
    fn steps(self) -> i64 {
        match self {
            RateShape::Square => 2,
            RateShape::Sine => 10,
        }
    }

    /// The inter-event delay of each step, in microseconds (Beam's `interEventDelayUs`
    /// with one generator): a single delay when the two rates are equal.
    pub(crate) fn inter_event_delays_us(self, first: i64, next: i64, unit: RateUnit) -> Vec<i64> {
        if first == next {
            return vec![unit.period_us(first)];
        }
        match self {
            RateShape::Square => vec![unit.period_us(first), unit.period_us(next)],
            RateShape::Sine => {
                let mid = (first + next) as f64 / 2.0;
                let amp = (first - next) as f64 / 2.0;
                let n = self.steps();
                (0..n)
                    .map(|i| {
                        let r = (2.0 * std::f64::consts::PI * i as f64) / n as f64;
                        // Java's Math.round: half up, i.e. f64::round for positive rates.
                        unit.period_us((mid + amp * r.cos()).round() as i64)
                    })
                    .collect()
            }
        }
    }

    /// How long each step lasts, in seconds, so that the steps fill `rate_period_sec`.
    pub(crate) fn step_length_sec(self, rate_period_sec: i64) -> i64 {
        (rate_period_sec + self.steps() - 1) / self.steps()
    }
}

/// The parameters of the generated stream, with Beam's defaults.
///
/// Beam's `NexmarkConfiguration` knobs that only concern running a query (sinks,
/// Pub/Sub, windows, `numEvents`) are not here: the caller picks the range of event
/// numbers to generate. `numEventGenerators` is not here either: Beam gives each of its
/// generators its own timeline at `1/numEventGenerators` of the rate, while highwater keeps
/// one timeline at the full rate and splits the *event numbers* between workers (see
/// [`Split`](super::Split)), so the stream does not depend on the worker count.
///
/// ```
/// use highwater::nexmark::{Generator, GeneratorConfig};
/// let config = GeneratorConfig { hot_auction_ratio: 10, ..GeneratorConfig::default() };
/// let generator = Generator::new(config).expect("a valid configuration");
/// assert_eq!(generator.timestamp(10_000), highwater::nexmark::BASE_TIME_MS + 1_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorConfig {
    /// XORed into each event's id to seed its `java.util.Random`. `0` (the default)
    /// reproduces Beam's stream; any other value gives a different stream with the same
    /// shape, ids and times.
    pub seed: u64,
    /// The event time of event number 0, in milliseconds. Default: [`BASE_TIME_MS`].
    pub base_time: i64,
    /// The id of event number 0 (Beam's `firstEventId`, 0). Event ids decide each event's
    /// kind (`id % 50`), its person and auction ids, and seed its random draws.
    pub first_event_id: u64,
    /// Events per [`rate_unit`](Self::rate_unit) at the start of each rate period. Default 10 000.
    pub first_event_rate: u32,
    /// Events per [`rate_unit`](Self::rate_unit) half a period later. Default 10 000.
    pub next_event_rate: u32,
    /// The unit of the two rates. Default: per second.
    pub rate_unit: RateUnit,
    /// How the rate moves between the two rates. Default: sine.
    pub rate_shape: RateShape,
    /// The length of one period of the rate shape, in seconds. Default 600.
    pub rate_period_sec: u32,
    /// Events come in groups of this many, shuffled within the group (`1`, the default,
    /// means in order). Beam's `outOfOrderGroupSize`.
    pub out_of_order_group_size: u64,
    /// The average size a person aims at, in bytes, padded with `extra`. Default 200.
    pub avg_person_byte_size: u32,
    /// The average size an auction aims at, in bytes. Default 500.
    pub avg_auction_byte_size: u32,
    /// The average size a bid aims at, in bytes. Default 100.
    pub avg_bid_byte_size: u32,
    /// A bid is for the current hot auction with probability `1 − 1/hot_auction_ratio`.
    /// Default 2 (half the bids).
    pub hot_auction_ratio: u32,
    /// An auction is by the current hot seller with probability `1 − 1/hot_sellers_ratio`.
    /// Default 4.
    pub hot_sellers_ratio: u32,
    /// A bid is by the current hot bidder with probability `1 − 1/hot_bidders_ratio`.
    /// Default 4.
    pub hot_bidders_ratio: u32,
    /// How many of the latest auctions a cold bid may pick from; also sets how long
    /// auctions run. Default 100.
    pub num_in_flight_auctions: u32,
    /// How many of the latest persons a cold seller or bidder may be. Default 1000.
    pub num_active_people: u32,
}

impl Default for GeneratorConfig {
    /// Beam's `NexmarkConfiguration.DEFAULT`, as far as the generator reads it.
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            base_time: BASE_TIME_MS,
            first_event_id: 0,
            first_event_rate: 10_000,
            next_event_rate: 10_000,
            rate_unit: RateUnit::PerSecond,
            rate_shape: RateShape::Sine,
            rate_period_sec: 600,
            out_of_order_group_size: 1,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
        }
    }
}

/// A [`GeneratorConfig`] the generator cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A rate, ratio, count or group size is zero.
    #[error("nexmark generator: `{field}` is 0; it must be at least 1")]
    Zero {
        /// The offending field of [`GeneratorConfig`].
        field: &'static str,
    },
    /// A field is larger than the Java `int` Beam keeps it in.
    #[error("nexmark generator: `{field}` is {value}; it must be at most {max}")]
    TooLarge {
        /// The offending field of [`GeneratorConfig`].
        field: &'static str,
        /// Its value.
        value: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// The rate changes, but a step of the rate shape is too short to hold an event.
    #[error(
        "nexmark generator: with rates {first} and {next}, a step of the {shape:?} rate shape \
         ({step_sec} s of a {period_sec} s period) holds no event; lengthen `rate_period_sec` \
         or raise the rates"
    )]
    EmptyRateStep {
        /// [`GeneratorConfig::first_event_rate`].
        first: u32,
        /// [`GeneratorConfig::next_event_rate`].
        next: u32,
        /// [`GeneratorConfig::rate_shape`].
        shape: RateShape,
        /// The length of one step, in seconds.
        step_sec: i64,
        /// [`GeneratorConfig::rate_period_sec`].
        period_sec: u32,
    },
}

/// The timeline a valid configuration describes: when each event number happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Timeline {
    base_time: i64,
    /// One delay per step of the rate shape, in microseconds.
    delays_us: Vec<i64>,
    step_length_sec: i64,
    /// Events in one period of the rate shape (only when there are several delays).
    events_per_epoch: i64,
    /// Length of one period of the rate shape in milliseconds (idem).
    epoch_period_ms: i64,
}

impl Timeline {
    /// Events in one step of `delay_us` microseconds.
    fn events_in_step(&self, delay_us: i64) -> i64 {
        (self.step_length_sec * 1_000_000) / delay_us
    }

    /// The event time of event number `number` and the inter-event delay then (Beam's
    /// `timestampAndInterEventDelayUsForEvent`).
    #[inline]
    pub(crate) fn time_and_delay(&self, number: u64) -> (i64, i64) {
        let number = number as i64;
        if let [delay] = self.delays_us[..] {
            return (self.base_time + number.wrapping_mul(delay) / 1000, delay);
        }
        let epoch = number / self.events_per_epoch;
        let mut n = number % self.events_per_epoch;
        let mut offset_in_epoch_ms = 0;
        for &delay in &self.delays_us {
            let in_step = self.events_in_step(delay);
            if n < in_step {
                let offset_in_step_us = n * delay;
                let time =
                    self.base_time + epoch * self.epoch_period_ms + offset_in_epoch_ms + offset_in_step_us / 1000;
                return (time, delay);
            }
            n -= in_step;
            offset_in_epoch_ms += (in_step * delay) / 1000;
        }
        unreachable!("events_per_epoch is the sum of the steps' events")
    }
}

impl GeneratorConfig {
    /// Checks the configuration and computes its timeline.
    pub(crate) fn timeline(&self) -> Result<Timeline, ConfigError> {
        let int_max = i32::MAX as u64;
        // Beam keeps these in Java ints and draws `nextInt(n)` from several of them.
        let positive_ints: [(&'static str, u64); 9] = [
            ("first_event_rate", self.first_event_rate.into()),
            ("next_event_rate", self.next_event_rate.into()),
            ("hot_auction_ratio", self.hot_auction_ratio.into()),
            ("hot_sellers_ratio", self.hot_sellers_ratio.into()),
            ("hot_bidders_ratio", self.hot_bidders_ratio.into()),
            ("num_in_flight_auctions", self.num_in_flight_auctions.into()),
            ("num_active_people", self.num_active_people.into()),
            ("rate_period_sec", self.rate_period_sec.into()),
            ("out_of_order_group_size", self.out_of_order_group_size),
        ];
        for (field, value) in positive_ints {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
            if value > int_max {
                return Err(ConfigError::TooLarge { field, value, max: int_max });
            }
        }
        // Event ids are Java longs: leave room for the events after the first.
        let max_first_id = i64::MAX as u64 / 2;
        if self.first_event_id > max_first_id {
            return Err(ConfigError::TooLarge {
                field: "first_event_id",
                value: self.first_event_id,
                max: max_first_id,
            });
        }
        for (field, value) in [
            ("avg_person_byte_size", self.avg_person_byte_size),
            ("avg_auction_byte_size", self.avg_auction_byte_size),
            ("avg_bid_byte_size", self.avg_bid_byte_size),
        ] {
            if u64::from(value) > int_max {
                return Err(ConfigError::TooLarge { field, value: value.into(), max: int_max });
            }
        }

        let (first, next) = (i64::from(self.first_event_rate), i64::from(self.next_event_rate));
        let delays_us = self.rate_shape.inter_event_delays_us(first, next, self.rate_unit);
        let step_length_sec = self.rate_shape.step_length_sec(self.rate_period_sec.into());
        let mut timeline =
            Timeline { base_time: self.base_time, delays_us, step_length_sec, events_per_epoch: 0, epoch_period_ms: 0 };
        if timeline.delays_us.len() > 1 {
            for &delay in &timeline.delays_us {
                let in_step = timeline.events_in_step(delay);
                if in_step == 0 {
                    return Err(ConfigError::EmptyRateStep {
                        first: self.first_event_rate,
                        next: self.next_event_rate,
                        shape: self.rate_shape,
                        step_sec: step_length_sec,
                        period_sec: self.rate_period_sec,
                    });
                }
                timeline.events_per_epoch += in_step;
                timeline.epoch_period_ms += (in_step * delay) / 1000;
            }
        }
        Ok(timeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rate_puts_events_100_us_apart() {
        let timeline = GeneratorConfig::default().timeline().unwrap();
        assert_eq!(timeline.time_and_delay(0), (BASE_TIME_MS, 100));
        assert_eq!(timeline.time_and_delay(9), (BASE_TIME_MS, 100));
        assert_eq!(timeline.time_and_delay(10), (BASE_TIME_MS + 1, 100));
        assert_eq!(timeline.time_and_delay(10_000), (BASE_TIME_MS + 1_000, 100));
    }

    #[test]
    fn a_square_rate_alternates_its_two_delays() {
        let config = GeneratorConfig {
            first_event_rate: 1_000,
            next_event_rate: 100,
            rate_shape: RateShape::Square,
            rate_period_sec: 20,
            ..GeneratorConfig::default()
        };
        let timeline = config.timeline().unwrap();
        // 10 s at 1000/s (10 000 events), then 10 s at 100/s (1 000 events).
        assert_eq!(timeline.time_and_delay(9_999), (BASE_TIME_MS + 9_999, 1_000));
        assert_eq!(timeline.time_and_delay(10_000), (BASE_TIME_MS + 10_000, 10_000));
        assert_eq!(timeline.time_and_delay(10_001), (BASE_TIME_MS + 10_010, 10_000));
        assert_eq!(timeline.time_and_delay(11_000), (BASE_TIME_MS + 20_000, 1_000));
    }

    #[test]
    fn a_sine_rate_has_ten_steps_from_the_first_rate_to_the_next() {
        let delays = RateShape::Sine.inter_event_delays_us(1_000, 100, RateUnit::PerSecond);
        assert_eq!(delays.len(), 10);
        assert_eq!(delays[0], 1_000);
        assert_eq!(delays[5], 10_000);
        assert_eq!(delays[1], delays[9]);
    }

    #[test]
    fn invalid_configurations_say_which_field() {
        let zero = GeneratorConfig { hot_auction_ratio: 0, ..GeneratorConfig::default() };
        assert_eq!(zero.timeline(), Err(ConfigError::Zero { field: "hot_auction_ratio" }));
        let huge = GeneratorConfig { num_active_people: u32::MAX, ..GeneratorConfig::default() };
        assert!(matches!(huge.timeline(), Err(ConfigError::TooLarge { field: "num_active_people", .. })));
        // One event a minute cannot fit in a one-second step.
        let short = GeneratorConfig {
            first_event_rate: 1,
            next_event_rate: 2,
            rate_unit: RateUnit::PerMinute,
            rate_shape: RateShape::Square,
            rate_period_sec: 2,
            ..GeneratorConfig::default()
        };
        assert!(matches!(short.timeline(), Err(ConfigError::EmptyRateStep { .. })));
    }
}
