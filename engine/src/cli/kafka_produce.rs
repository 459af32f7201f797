//! `highwater kafka-produce`: the lines of a file as messages of a Kafka topic, spread round
//! robin over its partitions — to try a Kafka job on the bundled bids, and for benchmarks.

use crate::source::kafka::client;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

/// The flags of `highwater kafka-produce`.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "kafka-produce")]
pub struct ProduceArgs {
    /// The brokers, HOST:PORT,....
    #[arg(long, value_name = "HOSTS")]
    pub brokers: String,
    /// The topic (it must exist).
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The file whose lines become messages (`-`: standard input). A `.csv` file's first
    /// line is its header: it is not produced, and is printed for `--csv-header`.
    #[arg(long, value_name = "PATH")]
    pub input: PathBuf,
    /// How long the brokers have to answer and each message to be delivered.
    #[arg(long, default_value = "30s", value_parser = highwater_operators::duration::parse_ticks, value_name = "DURATION")]
    pub timeout: i64,
}

/// What `kafka-produce` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produced {
    /// Messages produced (and acknowledged).
    pub messages: u64,
    /// The topic's partitions.
    pub partitions: usize,
    /// The CSV header line that was not produced.
    pub header: Option<String>,
}

/// Produces the lines of `args.input` to `args.topic`, line `i` to partition
/// `i % partitions`, and waits until every one is acknowledged.
pub fn produce(args: &ProduceArgs) -> Result<Produced, String> {
    let timeout = Duration::from_millis(args.timeout.max(1) as u64);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("message.timeout.ms", timeout.as_millis().to_string())
        .create()
        .map_err(|e| format!("cannot create a Kafka producer for brokers {}: {e}", args.brokers))?;
    let metadata = producer
        .client()
        .fetch_metadata(Some(&args.topic), timeout)
        .map_err(|e| client::unreachable(&args.brokers, timeout, &e))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == args.topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len());
    if partitions == 0 {
        return Err(client::unknown_topic(&args.brokers, &args.topic));
    }
    let input: Box<dyn std::io::Read> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.input).map_err(|e| format!("cannot open `{}`: {e}", args.input.display()))?)
    };
    let csv = args.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut header = None;
    let mut messages = 0u64;
    for (i, line) in std::io::BufReader::with_capacity(1 << 16, input).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read `{}`: {e}", args.input.display()))?;
        if csv && i == 0 {
            header = Some(line.trim_end_matches('\r').to_string());
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let partition = (messages % partitions as u64) as i32;
        let mut record = BaseRecord::<(), str>::to(&args.topic).partition(partition).payload(line.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("cannot produce to topic `{}`: {e}", args.topic)),
            }
        }
        messages += 1;
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(timeout)
        .map_err(|e| format!("the messages to topic `{}` were not all acknowledged: {e}", args.topic))?;
    Ok(Produced { messages, partitions, header })
}
