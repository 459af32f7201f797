//! Kafka sources: each topic-partition is one logical partition of the source operator,
//! with its own watermark, like a file or a socket connection. See [`Kafka`].

pub(crate) mod client;
mod partition;

use super::{Journal, JournalPosition, Live, Partition, Source, Waker};
use crate::format::{Decoder, SerdeDecoder};
use highwater_operators::watermark::WatermarkStrategy;
use partition::KafkaPartition;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Where a [`Kafka`] source starts reading each partition (a restored checkpoint starts
/// where it left them instead).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartAt {
    /// The first message the broker still has (the default).
    #[default]
    Earliest,
    /// The end of each partition when the job starts: only messages produced after.
    Latest,
    /// These offsets, by `(topic, partition)`; a partition not named starts at its
    /// earliest. An offset outside the partition's range is an error.
    Offsets(BTreeMap<(String, i32), i64>),
    /// The first message whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

impl std::str::FromStr for StartAt {
    type Err = String;
    /// `earliest`, `latest`, `timestamp:MILLIS`, or `offsets:TOPIC/P=O,...` (`P=O` for
    /// every topic).
    ///
    /// ```
    /// use highwater::source::StartAt;
    /// assert_eq!("latest".parse::<StartAt>().unwrap(), StartAt::Latest);
    /// assert_eq!("timestamp:1000".parse::<StartAt>().unwrap(), StartAt::Timestamp(1000));
    /// let StartAt::Offsets(o) = "offsets:bids/0=5,bids/3=7".parse::<StartAt>().unwrap() else { panic!() };
    /// assert_eq!(o[&("bids".to_string(), 3)], 7);
    /// assert!("offsets:0=x".parse::<StartAt>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let usage = "use earliest, latest, timestamp:MILLIS or offsets:TOPIC/PARTITION=OFFSET[,...]";
        match s {
            "earliest" => return Ok(StartAt::Earliest),
            "latest" => return Ok(StartAt::Latest),
            _ => {}
        }
        if let Some(ms) = s.strip_prefix("timestamp:") {
            return ms
                .trim()
                .parse()
                .map(StartAt::Timestamp)
                .map_err(|_| format!("`{ms}` is not milliseconds; {usage}"));
        }
        if let Some(list) = s.strip_prefix("offsets:") {
            let mut out = BTreeMap::new();
            for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || format!("`{part}` is not TOPIC/PARTITION=OFFSET; {usage}");
                let (tp, off) = part.split_once('=').ok_or_else(bad)?;
                let (topic, p) = match tp.rsplit_once('/') {
                    Some((t, p)) => (t.to_string(), p),
                    None => (String::new(), tp),
                };
                let p: i32 = p.trim().parse().map_err(|_| bad())?;
                let off: i64 = off.trim().parse().map_err(|_| bad())?;
                if off < 0 {
                    return Err(bad());
                }
                out.insert((topic, p), off);
            }
            return Ok(StartAt::Offsets(out));
        }
        Err(format!("`{s}`: {usage}"))
    }
}

/// Where a [`Kafka`] source's records take their event time from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventTime {
    /// The decoder's (a field of the record).
    Record,
    /// The message's timestamp (create or log-append time, as the topic says).
    Message,
}

/// How message values are decoded.
#[derive(Clone, Debug)]
enum ValueFormat {
    /// One JSON object per message.
    Json,
    /// One CSV record per message, its fields named by this header.
    Csv(Vec<String>),
}

/// What every partition of one source shares.
struct Settings<T> {
    brokers: String,
    group: String,
    options: Vec<(String, String)>,
    format: ValueFormat,
    decoder: Arc<dyn Decoder<T>>,
    event_time: EventTime,
    queue: usize,
    retry_for: Duration,
}

/// A Kafka source of records `T`: each message's value is one record, a JSON object (the
/// default) or a CSV record ([`Kafka::csv_with_header`]), decoded by the same
/// [`Decoder`] as files and sockets (serde types with [`Kafka::event_time`], or a
/// [`crate::format::Schema`]).
///
/// # How it runs
///
/// - **Partitions.** The partitions of the topics, in the order the topics are given and
///   by partition number, are the source's logical partitions `0, 1, …`; partition `p` is
///   read by worker `p % peers` (of every process), like files. Each has its own
///   watermark ([`Kafka::watermark`]); the event time is a field of the record or the
///   message's timestamp ([`Kafka::message_timestamp`]). Partitions are assigned by
///   highwater, not by a consumer group's rebalancing.
/// - **Threads.** Each partition has a fetch thread with its own librdkafka consumer: it
///   polls messages, decodes them, and queues them in chunks on a bounded channel
///   ([`Kafka::queue_capacity`] messages: when the pipeline falls behind, fetching
///   stops — back-pressure), then wakes the source operator, which never blocks.
/// - **Where it starts and ends.** [`Kafka::start_at`] (earliest by default, latest, an
///   offset per partition, or a timestamp). Unbounded by default: the job runs until it
///   is stopped, a partition silent for [`Kafka::idle_timeout`] stops holding the
///   watermark back, and the stamps' tick advances every [`Kafka::tick_every`].
///   [`Kafka::stop_at_end`] makes it bounded: each partition ends at the end offset it had
///   when the job started, so a topic replays as a batch job with the answer of the same
///   records read from files.
/// - **Bad input.** A message whose value does not decode (or that has no value) is a
///   dead letter naming the topic, partition and offset.
/// - **Broker trouble.** An unreachable broker or an unknown topic when the job starts is
///   an error within [`Kafka::connect_timeout`]. A broker that goes away later is retried
///   with back-off (librdkafka reconnects), reported on standard error, and the job
///   fails after [`Kafka::retry_for`] without progress. Offsets going backwards (a broker
///   that lost its data, a topic recreated) fail the job: nothing is reset silently.
///
/// # Checkpoints
///
/// In a run with checkpoints each partition's position in the checkpoint is the offset of
/// the next message to read; a restored run seeks there, so it re-reads exactly from the
/// cut (exactly-once input). After each checkpoint the consumer group
/// ([`Kafka::group`]) commits those offsets, for monitoring tools only: highwater resumes
/// from its checkpoints, never from the group's offsets.
///
/// # Example
///
/// ```no_run
/// use highwater::pipeline::{run, JsonLines, Kafka, RunConfig, Windowing};
/// use highwater::model::watermark::WatermarkStrategy;
/// use std::time::Duration;
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Bid { auction: u64, price: u64, date_time_ms: i64 }
///
/// let bids = Kafka::<Bid>::new("127.0.0.1:9092", ["bids"])
///     .event_time(|b: &Bid| b.date_time_ms)
///     .watermark(WatermarkStrategy::bounded(Duration::from_secs(2)))
///     .stop_at_end();
/// run(RunConfig::workers(2), move |p| {
///     p.read("bids", bids.clone())?
///         .key_by(|b: &Bid| b.auction)
///         .window(Windowing::fixed(Duration::from_secs(10)))
///         .count("bids-per-auction")?
///         .write(JsonLines::stdout().rows());
///     Ok(())
/// })
/// .unwrap();
/// ```
pub struct Kafka<T> {
    brokers: String,
    topics: Vec<String>,
    format: ValueFormat,
    decoder: Option<Arc<dyn Decoder<T>>>,
    event_time: EventTime,
    watermark: Option<WatermarkStrategy>,
    start: StartAt,
    stop_at_end: bool,
    batch: usize,
    queue: usize,
    idle_timeout: Option<Duration>,
    tick_every: Duration,
    connect_timeout: Duration,
    retry_for: Duration,
    group: String,
    options: Vec<(String, String)>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Kafka<T> {
    fn clone(&self) -> Self {
        Kafka {
            brokers: self.brokers.clone(),
            topics: self.topics.clone(),
            format: self.format.clone(),
            decoder: self.decoder.clone(),
            event_time: self.event_time,
            watermark: self.watermark,
            start: self.start.clone(),
            stop_at_end: self.stop_at_end,
            batch: self.batch,
            queue: self.queue,
            idle_timeout: self.idle_timeout,
            tick_every: self.tick_every,
            connect_timeout: self.connect_timeout,
            retry_for: self.retry_for,
            group: self.group.clone(),
            options: self.options.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Kafka<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kafka")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("start", &self.start)
            .field("stop_at_end", &self.stop_at_end)
            .finish_non_exhaustive()
    }
}

impl<T> Kafka<T> {
    /// The default queue per partition, in messages.
    pub const DEFAULT_QUEUE: usize = 20_000;
    /// The default tick period.
    pub const DEFAULT_TICK: Duration = Duration::from_millis(200);
    /// The default consumer group (for the committed offsets only).
    pub const DEFAULT_GROUP: &'static str = "highwater";

    /// Reads `topics` from the brokers `brokers` (`HOST:PORT,...`).
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(brokers: impl Into<String>, topics: I) -> Self {
        Kafka {
            brokers: brokers.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            format: ValueFormat::Json,
            decoder: None,
            event_time: EventTime::Record,
            watermark: None,
            start: StartAt::Earliest,
            stop_at_end: false,
            batch: 10_000,
            queue: Self::DEFAULT_QUEUE,
            idle_timeout: None,
            tick_every: Self::DEFAULT_TICK,
            connect_timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(60),
            group: Self::DEFAULT_GROUP.to_string(),
            options: Vec::new(),
            _t: PhantomData,
        }
    }
    /// Values are JSON objects, one record each (the default).
    pub fn json(mut self) -> Self {
        self.format = ValueFormat::Json;
        self
    }
    /// Values are CSV records (one line each, no header line): the fields are named here,
    /// in order.
    pub fn csv_with_header<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.format = ValueFormat::Csv(names.into_iter().map(Into::into).collect());
        self
    }
    /// Decodes values with `decoder` instead of serde (e.g. a [`crate::format::Schema`]).
    pub fn decoder(mut self, decoder: impl Decoder<T> + 'static) -> Self {
        self.decoder = Some(Arc::new(decoder));
        self
    }
    /// Each record's event time is its message's timestamp, not a field of the record.
    pub fn message_timestamp(mut self) -> Self {
        self.event_time = EventTime::Message;
        self
    }
    /// The watermark strategy of each partition (required).
    pub fn watermark(mut self, w: WatermarkStrategy) -> Self {
        self.watermark = Some(w);
        self
    }
    /// Where each partition starts ([`StartAt::Earliest`] by default).
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.start = start;
        self
    }
    /// Bounded: each partition ends at the end offset it had when the job started.
    pub fn stop_at_end(mut self) -> Self {
        self.stop_at_end = true;
        self
    }
    /// At most this many records per batch (one watermark advance per batch).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    /// Messages queued per partition before its fetch thread waits (back-pressure).
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }
    /// A partition without messages for this long stops holding the watermark back (until
    /// messages come again). Default: never.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }
    /// How often processing time advances the stamps' tick when no message comes.
    pub fn tick_every(mut self, period: Duration) -> Self {
        self.tick_every = period.max(Duration::from_millis(1));
        self
    }
    /// How long the brokers have to answer when the job starts (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }
    /// How long a partition retries a broker that went away before the job fails
    /// (default 60 s).
    pub fn retry_for(mut self, d: Duration) -> Self {
        self.retry_for = d;
        self
    }
    /// The consumer group whose committed offsets follow the checkpoints (monitoring
    /// only). Default [`Kafka::DEFAULT_GROUP`].
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }
    /// A librdkafka setting of the consumers (e.g. `fetch.max.bytes`).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }
    /// The brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }
    /// The topics.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }
}

impl<T: DeserializeOwned + Send + 'static> Kafka<T> {
    /// Where each record's event time comes from (required unless a [`Kafka::decoder`]
    /// gives it or [`Kafka::message_timestamp`]): records are decoded with serde.
    pub fn event_time(self, f: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.decoder(SerdeDecoder::new(move |t: &T| Ok(f(t))))
    }
    /// Records decoded with serde, their event time the message's timestamp.
    pub fn serde_with_message_timestamp(self) -> Self {
        self.decoder(SerdeDecoder::new(|_: &T| Ok(0))).message_timestamp()
    }
}

impl<T: Send + 'static> Kafka<T> {
    fn check(&self) -> Result<Arc<dyn Decoder<T>>, String> {
        let Some(decoder) = self.decoder.clone() else {
            return Err("no event time: add .event_time(|record| ...) (or .decoder(...)) to the Kafka source".into());
        };
        if self.watermark.is_none() {
            return Err("no watermark strategy: add .watermark(WatermarkStrategy::BoundedOutOfOrderness(ms)) (or Ascending) to the Kafka source".into());
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return Err("no Kafka topic: name at least one (--kafka-topic TOPIC)".into());
        }
        if self.brokers.trim().is_empty() {
            return Err("no Kafka brokers: give HOST:PORT (--kafka-brokers)".into());
        }
        Ok(decoder)
    }

    /// Opens this worker's partitions, each at its start (or where `restored` left it).
    fn start(
        &self,
        worker: usize,
        peers: usize,
        waker: Waker,
        restored: Option<&BTreeMap<usize, JournalPosition>>,
    ) -> Result<Option<Live<T>>, String> {
        let decoder = self.check()?;
        let brokers = self.brokers.as_str();
        let label = "Kafka source".to_string();
        // Start-up questions are asked once, quietly: their errors are the answer.
        let context = client::Context::new(label, brokers, false);
        let admin = client::consumer(brokers, &self.group, &self.options, context)?;
        let mut all: Vec<(String, i32)> = Vec::new();
        for topic in &self.topics {
            for p in client::partitions(&admin, brokers, topic, self.connect_timeout)? {
                all.push((topic.clone(), p));
            }
        }
        let settings = Arc::new(Settings {
            brokers: brokers.to_string(),
            group: self.group.clone(),
            options: self.options.clone(),
            format: self.format.clone(),
            decoder,
            event_time: self.event_time,
            queue: self.queue,
            retry_for: self.retry_for,
        });
        let mine: Vec<(usize, &(String, i32))> =
            all.iter().enumerate().filter(|(i, _)| i % peers.max(1) == worker).collect();
        let (tx, arrivals) = std::sync::mpsc::channel::<Box<dyn Partition<T>>>();
        // Each partition's offsets; the exact end (one fetch) only where it matters — some
        // brokers list it early — asked of every partition at once.
        let mut plans = Vec::new();
        for (index, (topic, p)) in mine {
            let at = restored.and_then(|r| r.get(&index)).copied();
            if at == Some(JournalPosition::Done) {
                continue;
            }
            let (low, listed) = client::bounds(&admin, brokers, topic, *p, self.connect_timeout)?;
            let restored_past = matches!(at, Some(JournalPosition::At { bytes, .. }) if bytes as i64 > listed);
            let needs_end = self.stop_at_end || self.start == StartAt::Latest || restored_past;
            plans.push((index, topic, *p, at, low, listed, needs_end));
        }
        let ends: Vec<Result<i64, String>> = std::thread::scope(|scope| {
            let probes: Vec<_> = plans
                .iter()
                .map(|&(_, topic, p, _, low, listed, needs_end)| {
                    scope.spawn(move || {
                        if !needs_end {
                            return Ok(listed);
                        }
                        let quiet = client::Context::new("Kafka source".into(), brokers, false);
                        let probe = client::consumer(brokers, &self.group, &self.options, quiet)?;
                        client::end_offset(&probe, brokers, topic, p, (low, listed), self.connect_timeout)
                    })
                })
                .collect();
            probes
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("the end-offset probe panicked".to_string())))
                .collect()
        });
        for ((index, topic, p, at, low, _, _), high) in plans.into_iter().zip(ends) {
            let high = high?;
            let p = &p;
            let at = at.as_ref();
            let start = match at {
                Some(JournalPosition::At { bytes, .. }) => {
                    let o = i64::try_from(*bytes).unwrap_or(i64::MAX);
                    if o < low {
                        return Err(format!(
                            "the checkpoint resumes Kafka topic `{topic}` partition {p} at offset {o}, but the broker's first offset is now {low}: messages were deleted (retention) before they were read; rerun with --fresh to start over"
                        ));
                    }
                    if o > high {
                        return Err(format!(
                            "the checkpoint resumes Kafka topic `{topic}` partition {p} at offset {o}, but the partition ends at {high}: offsets went backwards (the topic was recreated, or the broker lost its data); rerun with --fresh to start over"
                        ));
                    }
                    o
                }
                _ => self.start_offset(&admin, topic, *p, low, high)?,
            };
            let end = self.stop_at_end.then_some(high);
            let part = KafkaPartition::new(topic.clone(), *p, index, start, end, settings.clone(), waker.clone());
            let _ = tx.send(Box::new(part));
        }
        drop(tx);
        Ok(Some(Live { arrivals, tick_every: self.tick_every, idle_timeout: self.idle_timeout }))
    }

    /// Where a partition starts by [`Kafka::start_at`].
    fn start_offset(
        &self,
        admin: &rdkafka::consumer::BaseConsumer<client::Context>,
        topic: &str,
        p: i32,
        low: i64,
        high: i64,
    ) -> Result<i64, String> {
        match &self.start {
            StartAt::Earliest => Ok(low),
            StartAt::Latest => Ok(high),
            StartAt::Offsets(map) => {
                let o = map.get(&(topic.to_string(), p)).or_else(|| map.get(&(String::new(), p)));
                match o {
                    None => Ok(low),
                    Some(&o) if (low..=high).contains(&o) => Ok(o),
                    Some(&o) => Err(format!(
                        "start offset {o} of Kafka topic `{topic}` partition {p} is outside its offsets [{low}, {high}]; choose one in that range (--kafka-start offsets:{topic}/{p}=OFFSET)"
                    )),
                }
            }
            StartAt::Timestamp(ms) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, p, Offset::Offset(*ms)).map_err(|e| e.to_string())?;
                let found = admin.offsets_for_times(tpl, self.connect_timeout).map_err(|e| {
                    format!("cannot find the offsets of time {ms} in Kafka topic `{topic}` partition {p} at brokers {}: {e}", self.brokers)
                })?;
                match found.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Ok(o.clamp(low, high)),
                    // No message at or after the time: the partition's end.
                    _ => Ok(high),
                }
            }
        }
    }
}

impl<T: Send + 'static> Source<T> for Kafka<T> {
    fn open(&self, _worker: usize, _peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        self.check()?;
        Ok(Vec::new())
    }
    fn watermark(&self) -> WatermarkStrategy {
        self.watermark.unwrap_or(WatermarkStrategy::Ascending)
    }
    fn batch_size(&self) -> usize {
        self.batch
    }
    fn live(&self, worker: usize, peers: usize, waker: Waker) -> Result<Option<Live<T>>, String> {
        self.start(worker, peers, waker, None)
    }
    /// Kafka keeps the messages: nothing is journaled; the partitions resume at the
    /// offsets the checkpoint recorded (`journal.positions`).
    fn live_journaled(
        &self,
        worker: usize,
        peers: usize,
        waker: Waker,
        journal: Journal,
    ) -> Result<Option<Live<T>>, String> {
        self.start(worker, peers, waker, Some(&journal.positions))
    }
}
