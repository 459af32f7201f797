//! The Kafka client as the source and sink use it: librdkafka (through `rdkafka`)
//! configured for highwater, a context that reports broker errors on standard error (with
//! back-off, never once per retry), and the start-up questions — does the broker answer,
//! does the topic exist, where do its partitions start and end — each answered within a
//! timeout with an error that says what to do.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the same client reports that it is still retrying.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Broker errors seen by one client since it last made progress.
#[derive(Debug, Default)]
pub(crate) struct Trouble {
    /// When the errors started (`None`: the client is healthy).
    pub(crate) since: Option<Instant>,
    /// The last error, in words.
    pub(crate) last: String,
    /// When it was last reported on standard error.
    reported: Option<Instant>,
}

/// The context of every highwater Kafka client: broker errors are recorded (the fetch
/// thread decides when to give up) and logged as warnings — the first at once,
/// then at most every [`REPORT_EVERY`] — instead of being logged by librdkafka.
pub(crate) struct Context {
    /// What the client is, for the reports: `Kafka source `bids` (topic/partition)`.
    pub(crate) label: String,
    /// The brokers, for the reports.
    pub(crate) brokers: String,
    pub(crate) trouble: Mutex<Trouble>,
    /// Whether broker errors are reported on standard error.
    pub(crate) report: bool,
}

impl Context {
    pub(crate) fn new(label: String, brokers: &str, report: bool) -> Self {
        Context { label, brokers: brokers.to_string(), trouble: Mutex::default(), report }
    }
    /// Records a broker error: reported now if it is the first or the last report is
    /// old.
    pub(crate) fn note(&self, error: String) {
        let mut t = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let first = t.since.is_none();
        t.since.get_or_insert(now);
        t.last = error;
        if self.report && (first || t.reported.is_none_or(|r| now.duration_since(r) >= REPORT_EVERY)) {
            t.reported = Some(now);
            let since = t.since.map_or(Duration::ZERO, |s| now.duration_since(s));
            tracing::warn!(
                brokers = %self.brokers,
                "{}: brokers {}: {} (for {:.1} s); retrying with back-off",
                self.label,
                self.brokers,
                t.last,
                since.as_secs_f64()
            );
        }
    }
    /// The client made progress: errors before are over (reported if they were).
    pub(crate) fn healthy(&self) {
        let mut t = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = t.since.take() {
            if self.report && t.reported.is_some() {
                tracing::info!(
                    brokers = %self.brokers,
                    "{}: brokers {} answer again after {:.1} s",
                    self.label,
                    self.brokers,
                    since.elapsed().as_secs_f64()
                );
            }
            t.reported = None;
        }
    }
    /// How long errors have lasted without progress, and the last one.
    pub(crate) fn trouble(&self) -> Option<(Duration, String)> {
        let t = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        t.since.map(|s| (s.elapsed(), t.last.clone()))
    }
}

impl ClientContext for Context {
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, _fac: &str, _message: &str) {
        // librdkafka's own log lines would repeat what `error` reports.
    }
    fn error(&self, error: KafkaError, reason: &str) {
        // The end of a partition is not trouble (librdkafka reports it here too).
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            return;
        }
        self.note(format!("{error} ({reason})"));
    }
}

impl ConsumerContext for Context {}

/// A consumer that joins no group (partitions are assigned by highwater, by
/// `p % peers`), reads from the position it is given and never resets it silently:
/// an offset the broker no longer has is an error (`auto.offset.reset=error`).
pub(crate) fn consumer(
    brokers: &str,
    group: &str,
    options: &[(String, String)],
    context: Context,
) -> Result<BaseConsumer<Context>, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("allow.auto.create.topics", "false")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "2000")
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("topic.metadata.refresh.interval.ms", "5000");
    for (k, v) in options {
        config.set(k, v);
    }
    config.create_with_context(context).map_err(|e| {
        format!(
            "cannot create a Kafka consumer for brokers {brokers}: {e}; check --kafka-brokers (HOST:PORT[,HOST:PORT])"
        )
    })
}

/// The partitions of `topic` (sorted), asked within `timeout`: an unreachable broker and
/// a topic that does not exist are errors that say what to do.
pub(crate) fn partitions(
    consumer: &BaseConsumer<Context>,
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, String> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| unreachable(brokers, timeout, &e))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(unknown_topic(brokers, topic));
    };
    if let Some(err) = t.error() {
        let code = RDKafkaErrorCode::from(err);
        if code == RDKafkaErrorCode::UnknownTopicOrPartition || code == RDKafkaErrorCode::UnknownTopic {
            return Err(unknown_topic(brokers, topic));
        }
        return Err(format!("Kafka brokers {brokers} cannot describe topic `{topic}`: {code}"));
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    if ids.is_empty() {
        return Err(unknown_topic(brokers, topic));
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The first and next offsets of a partition (its low and high watermarks).
pub(crate) fn bounds(
    consumer: &BaseConsumer<Context>,
    brokers: &str,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), String> {
    consumer.fetch_watermarks(topic, partition, timeout).map_err(|e| {
        format!("cannot list the offsets of Kafka topic `{topic}` partition {partition} at brokers {brokers} within {timeout:?}: {e}; is the broker running?")
    })
}

/// The error of a broker that did not answer in time.
pub(crate) fn unreachable(brokers: &str, timeout: Duration, e: &KafkaError) -> String {
    format!(
        "cannot reach the Kafka brokers {brokers} within {:.1} s ({e}): is the broker running, and are --kafka-brokers (HOST:PORT[,HOST:PORT]) right?",
        timeout.as_secs_f64()
    )
}

/// The error of a topic the brokers do not have.
pub(crate) fn unknown_topic(brokers: &str, topic: &str) -> String {
    format!(
        "Kafka topic `{topic}` does not exist on brokers {brokers}: create it first (e.g. `tansu topic create {topic} --partitions 4 --broker tcp://HOST:PORT`, or `kafka-topics.sh --create`), or check the topic's name"
    )
}

/// The end offset of a partition now: the offset after its last message. Asked by
/// reading to the end of the partition from its last listed message (one fetch), not
/// only by listing offsets: some brokers (tansu 0.6) list the base offset of the last
/// record batch plus one, which ends a batch of several messages early; the end of a
/// fetch is exact.
pub(crate) fn end_offset(
    consumer: &BaseConsumer<Context>,
    brokers: &str,
    topic: &str,
    partition: i32,
    (low, high): (i64, i64),
    timeout: Duration,
) -> Result<i64, String> {
    if high <= low {
        return Ok(high);
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(high - 1)).map_err(|e| e.to_string())?;
    consumer.assign(&tpl).map_err(|e| format!("cannot read Kafka topic `{topic}` partition {partition}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut end = high;
    // The end is where a fetch reports the end of the partition; with a broker that does
    // not report it (seen: tansu's fetches past a misreported end), after the last message
    // of the batch holding the listed end (a record batch comes whole in one fetch
    // response): when no more came for a moment.
    let mut last_message: Option<Instant> = None;
    let found = loop {
        if last_message.is_some_and(|t| t.elapsed() >= Duration::from_millis(200)) {
            break true;
        }
        if Instant::now() >= deadline {
            break last_message.is_some();
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                end = end.max(m.offset() + 1);
                last_message = Some(Instant::now());
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                if let Ok(pos) = consumer.position() {
                    if let Some(rdkafka::Offset::Offset(o)) = pos.find_partition(topic, partition).map(|e| e.offset()) {
                        end = end.max(o);
                    }
                }
                break true;
            }
            Some(Err(e))
                if e.rdkafka_error_code().is_some_and(|c| {
                    matches!(c, RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
                }) =>
            {
                return Err(format!(
                    "cannot read the end of Kafka topic `{topic}` partition {partition} at brokers {brokers}: {e}"
                ));
            }
            Some(Err(_)) => {}
            None => {}
        }
    };
    let _ = consumer.unassign();
    if !found {
        return Err(format!(
            "cannot read the end of Kafka topic `{topic}` partition {partition} at brokers {brokers} within {:.1} s: is the broker running?",
            timeout.as_secs_f64()
        ));
    }
    Ok(end)
}
