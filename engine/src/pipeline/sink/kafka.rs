//! A Kafka sink: one message per record, keyed (panes by their key), produced
//! idempotently, at least once.

use crate::pipeline::{Collection, Data, Sink};
use crate::row::{Row, RowFormat};
use crate::source::kafka::client;
use highwater_operators::pane::Pane;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

type MessageFormat<T> = Arc<dyn Fn(&T, &mut Vec<u8>, &mut String)>;

/// How a [`KafkaSink`] delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Delivery {
    /// Every record at least once (the default): idempotent production (no duplicate from
    /// the client's own retries); after a restore from a checkpoint, the records after the
    /// cut are produced again.
    #[default]
    AtLeastOnce,
    /// Exactly once, with transactions committed at checkpoints: not supported (the job
    /// fails to start saying so).
    ExactlyOnce,
}

/// Messages to a Kafka topic, one per record: panes as their JSON row keyed by the pane's
/// key ([`KafkaSink::panes`]), or any record with a formatter of your own
/// ([`KafkaSink::with_messages`]).
///
/// - **Delivery.** At least once, with librdkafka's idempotent producer (`acks=all`): the
///   client's retries do not duplicate messages. A message that cannot be delivered within
///   [`KafkaSink::timeout`] fails the run, naming the topic. The sink flushes when its
///   input ends. Exactly-once delivery (transactions tied to checkpoints) is not supported:
///   [`Delivery::ExactlyOnce`] fails the start with a message saying so (tansu, the broker
///   highwater is tested against, has no transactions either).
/// - **Checkpoints.** Messages are not part of a checkpoint: a restored run produces the
///   panes after its cut again (at least once).
/// - **Errors.** A topic that does not exist, or brokers that do not answer within the
///   timeout, fail the run at its start with a message saying what to do.
///
/// ```no_run
/// use highwater::pipeline::{run, KafkaSink, Memory, RunConfig, Windowing};
/// use highwater::model::watermark::WatermarkStrategy;
/// use std::time::Duration;
/// run(RunConfig::workers(1), |p| {
///     let src = Memory::new(vec![vec![(1_000, 7u64), (2_000, 7)]], WatermarkStrategy::Ascending);
///     p.read("numbers", src)?
///         .key_by(|n: &u64| *n)
///         .window(Windowing::fixed(Duration::from_secs(10)))
///         .count("per-number")?
///         .write(KafkaSink::panes("127.0.0.1:9092", "counts"));
///     Ok(())
/// })
/// .unwrap();
/// ```
pub struct KafkaSink<T> {
    brokers: String,
    topic: String,
    format: MessageFormat<T>,
    delivery: Delivery,
    timeout: Duration,
    options: Vec<(String, String)>,
}

impl<T: Serialize + 'static> KafkaSink<T> {
    /// Each record's serde form as a JSON value, without a key.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSink::with_messages(brokers, topic, |t: &T, _key: &mut Vec<u8>, value: &mut String| {
            match serde_json::to_string(t) {
                Ok(s) => value.push_str(&s),
                Err(e) => value.push_str(&serde_json::json!({ "error": e.to_string() }).to_string()),
            }
        })
    }
}

impl<K: Serialize + 'static, V: Serialize + 'static> KafkaSink<Pane<K, V>> {
    /// Panes as their output row (`docs/output-format.md`: key, window, value, timestamp,
    /// pane info, retraction) in JSON, keyed by the pane's key as JSON: the panes of one
    /// key go to one partition, in order.
    pub fn panes(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSink::with_messages(brokers, topic, |p: &Pane<K, V>, key: &mut Vec<u8>, value: &mut String| {
            let _ = serde_json::to_writer(&mut *key, &p.key);
            p.write_row(value, &RowFormat::default());
        })
    }
}

impl<T> KafkaSink<T> {
    /// Each record's message by `f`, which appends its key (left empty: no key) and its
    /// value.
    pub fn with_messages(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        f: impl Fn(&T, &mut Vec<u8>, &mut String) + 'static,
    ) -> Self {
        KafkaSink {
            brokers: brokers.into(),
            topic: topic.into(),
            format: Arc::new(f),
            delivery: Delivery::AtLeastOnce,
            timeout: Duration::from_secs(30),
            options: Vec::new(),
        }
    }
    /// How the sink delivers ([`Delivery::AtLeastOnce`] by default).
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }
    /// How long the brokers have to answer at the start, and a message to be delivered
    /// (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }
    /// A librdkafka setting of the producer (e.g. `compression.type`).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }
}

/// Delivery failures, reported by librdkafka's delivery callbacks.
struct SinkContext {
    inner: client::Context,
    failed: Mutex<Option<String>>,
}

impl ClientContext for SinkContext {
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, _fac: &str, _message: &str) {}
    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.note(format!("{error} ({reason})"));
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.inner.healthy(),
            Err((e, _)) => {
                let mut f = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// The producer, checked: the topic exists, the brokers answer.
fn producer(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    options: &[(String, String)],
) -> Result<BaseProducer<SinkContext>, String> {
    let context = SinkContext {
        inner: client::Context::new(format!("Kafka sink (topic {topic})"), brokers, true),
        failed: Mutex::new(None),
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", timeout.as_millis().max(1).to_string())
        .set("allow.auto.create.topics", "false")
        .set("reconnect.backoff.max.ms", "2000");
    for (k, v) in options {
        config.set(k, v);
    }
    let producer: BaseProducer<SinkContext> = config
        .create_with_context(context)
        .map_err(|e| format!("cannot create a Kafka producer for brokers {brokers}: {e}"))?;
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| client::unreachable(brokers, timeout, &e))?;
    let known = metadata.topics().iter().find(|t| t.name() == topic).is_some_and(|t| {
        t.error().is_none_or(|e| {
            let code = RDKafkaErrorCode::from(e);
            code != RDKafkaErrorCode::UnknownTopicOrPartition && code != RDKafkaErrorCode::UnknownTopic
        }) && !t.partitions().is_empty()
    });
    if !known {
        return Err(format!("the output {}", client::unknown_topic(brokers, topic)));
    }
    Ok(producer)
}

impl<T: Data> Sink<T> for KafkaSink<T> {
    fn attach(self, c: Collection<'_, T>) {
        let problems = c.shared.problems();
        let KafkaSink { brokers, topic, format, delivery, timeout, options } = self;
        let started = match delivery {
            Delivery::ExactlyOnce => Err(format!(
                "exactly-once output to Kafka topic `{topic}` needs transactions committed at checkpoints, which highwater does not do (and tansu, the broker it is tested with, has no transactions): use the default at-least-once delivery (idempotent production), or write to files (exactly once with checkpoints)"
            )),
            Delivery::AtLeastOnce => producer(&brokers, &topic, timeout, &options),
        };
        let mut producer = match started {
            Ok(p) => Some(p),
            Err(e) => {
                problems.report(format!("Kafka sink: {e}"));
                None
            }
        };
        let (mut key, mut value) = (Vec::new(), String::new());
        let mut finished = false;
        c.stream.sink(PipelinePact, "kafka-sink", move |(input, frontier)| {
            input.for_each(|_, data| {
                let Some(p) = producer.as_ref() else {
                    data.clear();
                    return;
                };
                for (_, x) in data.drain(..) {
                    key.clear();
                    value.clear();
                    format(&x, &mut key, &mut value);
                    let mut record = BaseRecord::to(&topic).payload(value.as_bytes());
                    if !key.is_empty() {
                        record = record.key(&key[..]);
                    }
                    loop {
                        match p.send(record) {
                            Ok(()) => break,
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                                // Back-pressure: wait for deliveries to make room.
                                record = r;
                                p.poll(Duration::from_millis(10));
                            }
                            Err((e, _)) => {
                                problems.report(format!("Kafka sink: cannot produce to topic `{topic}` at brokers {brokers}: {e}"));
                                break;
                            }
                        }
                    }
                }
                p.poll(Duration::ZERO);
            });
            if let Some(p) = producer.as_ref() {
                p.poll(Duration::ZERO);
                if frontier.is_empty() && !finished {
                    finished = true;
                    if let Err(e) = p.flush(timeout) {
                        problems.report(format!(
                            "Kafka sink: the messages to topic `{topic}` at brokers {brokers} were not all delivered within {:.0} s: {e}",
                            timeout.as_secs_f64()
                        ));
                    }
                }
                let failed = p.context().failed.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(e) = failed {
                    problems.report(format!(
                        "Kafka sink: a message to topic `{topic}` at brokers {brokers} was not delivered: {e}; later messages may be missing: rerun the job"
                    ));
                    producer = None;
                }
            }
        });
    }
}
