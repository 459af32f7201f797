//! One Kafka topic-partition as a logical partition of the source operator: a fetch
//! thread per partition polls its own consumer, decodes each message's value with the
//! source's decoder (the one of files and sockets), and queues records and dead letters
//! in chunks on a bounded channel (back-pressure); the operator drains the channel and
//! never blocks. The partition's position — in checkpoints too — is the offset of the
//! next message to read.

use super::client::{self, Context};
use super::{EventTime, Settings, ValueFormat};
use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
use crate::format::CsvDecoder;
use crate::source::{Batch, Partition, Waker};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages polled into one chunk before it is queued.
const CHUNK: usize = 1024;
/// How long one poll of the consumer waits for a message.
const POLL: Duration = Duration::from_millis(100);
/// How long a topic or partition the broker says it does not know may stay unknown
/// before the job fails (a broker restarted empty, a topic deleted).
const UNKNOWN_GRACE: Duration = Duration::from_secs(5);

/// What the fetch thread queues.
enum Item<T> {
    /// A record and its event time.
    Record(i64, T),
    /// A message that did not make a record.
    Dead(DeadLetter),
}

/// An item with the offset after it (the partition's position once it is read).
struct Queued<T> {
    item: Item<T>,
    next: i64,
}

/// What the fetch thread sends.
enum Chunk<T> {
    Items(Vec<Queued<T>>),
    /// Bounded: every message before the end offset was queued.
    End,
    /// The partition cannot go on: the job fails with this message.
    Failed(String),
}

/// One topic-partition of a [`super::Kafka`] source.
pub(crate) struct KafkaPartition<T> {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// The partition's number in the source (over every topic): its worker and its name in
    /// checkpoints.
    pub(crate) index: usize,
    /// The offset of the next message to read.
    next: i64,
    /// Bounded: the partition ends before this offset.
    end: Option<i64>,
    settings: Arc<Settings<T>>,
    waker: Waker,
    rx: Option<Receiver<Chunk<T>>>,
    held: VecDeque<Queued<T>>,
    /// The offset to commit to the consumer group (monitoring), read by the fetch thread.
    commit: Arc<AtomicI64>,
    done: bool,
}

impl<T: Send + 'static> KafkaPartition<T> {
    pub(crate) fn new(
        topic: String,
        partition: i32,
        index: usize,
        start: i64,
        end: Option<i64>,
        settings: Arc<Settings<T>>,
        waker: Waker,
    ) -> Self {
        KafkaPartition {
            topic,
            partition,
            index,
            next: start,
            end,
            settings,
            waker,
            rx: None,
            held: VecDeque::new(),
            commit: Arc::new(AtomicI64::new(-1)),
            done: false,
        }
    }

    /// Starts the fetch thread at `self.next` (on the first read: a restored checkpoint
    /// may move the start before that).
    fn start(&mut self) -> Result<(), String> {
        let (tx, rx) = sync_channel(self.settings.queue.div_ceil(CHUNK).max(2));
        let fetch = Fetch {
            topic: self.topic.clone(),
            partition: self.partition,
            next: self.next,
            end: self.end,
            settings: self.settings.clone(),
            waker: self.waker.clone(),
            tx,
            commit: self.commit.clone(),
            committed: -1,
            csv: None,
        };
        std::thread::Builder::new()
            .name(format!("highwater-kafka-{}-{}", self.topic, self.partition))
            .spawn(move || fetch.run())
            .map_err(|e| {
                format!(
                    "cannot start the fetch thread of Kafka topic `{}` partition {}: {e}",
                    self.topic, self.partition
                )
            })?;
        self.rx = Some(rx);
        Ok(())
    }
}

impl<T: Send + 'static> Partition<T> for KafkaPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        if self.done || self.end.is_some_and(|e| self.next >= e) && self.held.is_empty() && self.rx.is_none() {
            self.done = true;
            return Batch { done: true, ..Batch::default() };
        }
        if self.rx.is_none() {
            if let Err(e) = self.start() {
                self.done = true;
                return Batch { done: true, error: Some(e), ..Batch::default() };
            }
        }
        let mut batch = Batch::default();
        let mut taken = 0;
        loop {
            while taken < max {
                let Some(q) = self.held.pop_front() else { break };
                taken += 1;
                self.next = q.next;
                match q.item {
                    Item::Record(t, r) => batch.records.push((t, r)),
                    Item::Dead(d) => batch.dead.push(d),
                }
            }
            if taken >= max {
                return batch;
            }
            let Some(rx) = self.rx.as_ref() else { break };
            match rx.try_recv() {
                Ok(Chunk::Items(items)) => self.held.extend(items),
                Ok(Chunk::End) => {
                    self.done = true;
                    batch.done = true;
                    return batch;
                }
                Err(TryRecvError::Disconnected) => {
                    self.done = true;
                    batch.done = true;
                    batch.error = Some(format!(
                        "the fetch thread of Kafka topic `{}` partition {} stopped at offset {} without saying why (a bug: please report it)",
                        self.topic, self.partition, self.next
                    ));
                    return batch;
                }
                Ok(Chunk::Failed(e)) => {
                    self.done = true;
                    batch.done = true;
                    batch.error = Some(e);
                    return batch;
                }
                Err(TryRecvError::Empty) => {
                    batch.pending = true;
                    return batch;
                }
            }
        }
        batch
    }
    fn name(&self) -> String {
        format!("kafka:{}/{}", self.topic, self.partition)
    }
    fn describe(&self) -> String {
        match self.end {
            Some(end) => format!(
                "Kafka topic {} partition {} at offset {} of {end} (brokers {})",
                self.topic, self.partition, self.next, self.settings.brokers
            ),
            None => format!(
                "Kafka topic {} partition {} at offset {} (brokers {})",
                self.topic, self.partition, self.next, self.settings.brokers
            ),
        }
    }
    /// The offset of the next message to read.
    fn position(&self) -> u64 {
        self.next.max(0) as u64
    }
    /// Kafka partitions seek: `bytes` is the offset to read next ([`Partition::position`]).
    fn resume(&mut self, _reads: u64, _max: usize, bytes: u64, _line: u64) -> Result<(), String> {
        let at = i64::try_from(bytes).unwrap_or(i64::MAX);
        if self.rx.is_some() && at != self.next {
            return Err(format!(
                "Kafka topic `{}` partition {} was already read from offset {} when the checkpoint asked for {at}",
                self.topic, self.partition, self.next
            ));
        }
        self.next = at;
        Ok(())
    }
    fn checkpoint_index(&self) -> Option<usize> {
        Some(self.index)
    }
    /// At a checkpoint: the consumer group's committed offset becomes the position read
    /// so far (for monitoring tools; highwater resumes from its checkpoints).
    fn sync(&mut self) -> Result<(), String> {
        self.commit.store(self.next, Ordering::Relaxed);
        Ok(())
    }
}

/// The fetch thread of one partition.
struct Fetch<T> {
    topic: String,
    partition: i32,
    next: i64,
    end: Option<i64>,
    settings: Arc<Settings<T>>,
    waker: Waker,
    tx: SyncSender<Chunk<T>>,
    commit: Arc<AtomicI64>,
    committed: i64,
    csv: Option<Box<dyn CsvDecoder<T>>>,
}

impl<T: Send + 'static> Fetch<T> {
    fn label(&self) -> String {
        format!("Kafka topic `{}` partition {}", self.topic, self.partition)
    }

    fn run(mut self) {
        let label = self.label();
        let context = Context::new(label.clone(), &self.settings.brokers, true);
        let consumer =
            match client::consumer(&self.settings.brokers, &self.settings.group, &self.settings.options, context) {
                Ok(c) => c,
                Err(e) => {
                    let _ = self.send_blocking(Chunk::Failed(e));
                    return;
                }
            };
        if let ValueFormat::Csv(names) = &self.settings.format {
            match self.settings.decoder.bind_csv(Some(names)) {
                Ok(d) => self.csv = Some(d),
                Err(e) => {
                    let _ = self.send_blocking(Chunk::Failed(format!("{label}: the CSV header does not fit: {e}")));
                    return;
                }
            }
        }
        let mut tpl = TopicPartitionList::new();
        if let Err(e) = tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(self.next)) {
            let _ = self.send_blocking(Chunk::Failed(format!("{label}: {e}")));
            return;
        }
        if let Err(e) = consumer.assign(&tpl) {
            let _ = self.send_blocking(Chunk::Failed(format!("{label}: cannot assign the partition: {e}")));
            return;
        }
        let mut chunk: Vec<Queued<T>> = Vec::new();
        let mut unknown_since: Option<Instant> = None;
        loop {
            if !self.waker.is_alive() {
                return;
            }
            self.commit_if_asked(&consumer);
            let mut wait = POLL;
            let mut ended = false;
            while chunk.len() < CHUNK {
                let Some(polled) = consumer.poll(wait) else { break };
                wait = Duration::ZERO;
                match polled {
                    Ok(m) => {
                        consumer.context().healthy();
                        unknown_since = None;
                        let offset = m.offset();
                        if self.end.is_some_and(|e| offset >= e) {
                            ended = true;
                            break;
                        }
                        let item = self.decode(offset, m.payload(), m.timestamp().to_millis());
                        self.next = offset + 1;
                        chunk.push(Queued { item, next: self.next });
                        if self.end.is_some_and(|e| self.next >= e) {
                            ended = true;
                            break;
                        }
                    }
                    Err(KafkaError::PartitionEOF(_)) => {
                        consumer.context().healthy();
                        unknown_since = None;
                        if self.end.is_some_and(|e| self.next >= e) {
                            ended = true;
                        }
                        break;
                    }
                    Err(e) => {
                        let code = e.rdkafka_error_code();
                        match code {
                            Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset) => {
                                let _ = self.flush(&mut chunk);
                                let _ = self.send_blocking(Chunk::Failed(format!(
                                    "{label}: offset {} is out of range at brokers {} ({e}): the broker lost the messages or the topic was recreated (offsets went backwards); rerun with --fresh (a checkpointed job) or choose another start (--kafka-start)",
                                    self.next, self.settings.brokers
                                )));
                                return;
                            }
                            Some(
                                RDKafkaErrorCode::UnknownTopicOrPartition
                                | RDKafkaErrorCode::UnknownTopic
                                | RDKafkaErrorCode::UnknownPartition,
                            ) => {
                                unknown_since.get_or_insert_with(Instant::now);
                                consumer.context().note(e.to_string());
                            }
                            _ => consumer.context().note(e.to_string()),
                        }
                        break;
                    }
                }
            }
            if !self.flush(&mut chunk) {
                return;
            }
            if let Some(since) = unknown_since.filter(|s| s.elapsed() >= UNKNOWN_GRACE) {
                let _ = self.send_blocking(Chunk::Failed(format!(
                    "{label}: the brokers {} no longer know the topic or partition at offset {} (for {:.0} s): it was deleted, or the broker lost its data (offsets went backwards); recreate it and rerun with --fresh",
                    self.settings.brokers,
                    self.next,
                    since.elapsed().as_secs_f64()
                )));
                return;
            }
            if ended {
                let _ = self.send_blocking(Chunk::End);
                return;
            }
            if let Some((lasting, last)) = consumer.context().trouble() {
                if lasting >= self.settings.retry_for {
                    let _ = self.send_blocking(Chunk::Failed(format!(
                        "{label}: gave up after {:.0} s of broker errors at offset {} (last: {last}); if the broker at {} is down, rerun the same command once it is up (with --checkpoint-dir it resumes from its last checkpoint) or give it longer with --kafka-retry-for; if it restarted without its data, rerun with --fresh",
                        lasting.as_secs_f64(),
                        self.next,
                        self.settings.brokers
                    )));
                    return;
                }
            }
        }
    }

    /// Sends the chunk gathered so far; `false` when the operator is gone.
    fn flush(&self, chunk: &mut Vec<Queued<T>>) -> bool {
        if chunk.is_empty() {
            return true;
        }
        self.send_blocking(Chunk::Items(std::mem::take(chunk)))
    }

    /// Queues a chunk and wakes the operator, waiting for room while the operator is
    /// alive (back-pressure); `false` when the operator is gone.
    fn send_blocking(&self, mut chunk: Chunk<T>) -> bool {
        loop {
            match self.tx.try_send(chunk) {
                Ok(()) => return self.waker.wake(),
                Err(TrySendError::Full(c)) => {
                    chunk = c;
                    if !self.waker.wake() {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }

    /// Commits the offset a checkpoint asked for (asynchronously: monitoring only).
    fn commit_if_asked(&mut self, consumer: &BaseConsumer<Context>) {
        let want = self.commit.load(Ordering::Relaxed);
        if want < 0 || want == self.committed {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        if tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(want)).is_ok()
            && consumer.commit(&tpl, CommitMode::Async).is_ok()
        {
            self.committed = want;
        }
    }

    /// Decodes one message's value; a message that makes no record is a dead letter
    /// naming its topic, partition and offset.
    fn decode(&self, offset: i64, payload: Option<&[u8]>, timestamp: Option<i64>) -> Item<T> {
        let location = || Location::Kafka { topic: self.topic.clone(), partition: self.partition, offset };
        let dead = |reason: String, raw: &[u8]| {
            Item::Dead(DeadLetter::line(DeadLetterKind::Malformed, location(), reason, raw))
        };
        let Some(value) = payload else {
            return dead("the message has no value (a tombstone)".into(), b"");
        };
        let value = value.strip_suffix(b"\n").unwrap_or(value);
        let value = value.strip_suffix(b"\r").unwrap_or(value);
        let decoded = match (&self.settings.format, &self.csv) {
            (ValueFormat::Json, _) => self.settings.decoder.decode_json(value),
            (ValueFormat::Csv(_), Some(csv)) => crate::format::decode_csv_line(csv.as_ref(), value),
            (ValueFormat::Csv(_), None) => Err("no CSV decoder".into()),
        };
        match decoded {
            Ok((t, r)) => match self.settings.event_time {
                EventTime::Record => Item::Record(t, r),
                EventTime::Message => match timestamp {
                    Some(ts) => Item::Record(ts, r),
                    None => dead(
                        "the message has no timestamp, and the source takes event times from message timestamps".into(),
                        value,
                    ),
                },
            },
            Err(reason) => dead(reason, value),
        }
    }
}
