//! `highwater run --listen ADDR` / `--connect ADDR`: the job of [`super::run`] over TCP
//! connections instead of files.
//!
//! The job is built with the pipeline DSL's live [`Tcp`] source (one partition per
//! connection, read by worker 0; see [`crate::pipeline::Tcp`]), whose lines are decoded
//! with the same [`Schema`] as file input, then aggregated and written exactly as file
//! input is.

use super::aggregates::AggregateSet;
use super::run::{aggregate_and_write, field, Outputs, RunArgs, RunError, Summary};
use crate::pipeline::{Decode, Line, Tcp};
use crate::source::{json_record, Format, Record, Schema};
use highwater_operators::watermark::WatermarkStrategy;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

/// Decodes a line into a record of `schema`: the fields by name, from a JSON object or
/// from a CSV line and its connection's header.
fn decoder(schema: Schema) -> Decode<Record> {
    Arc::new(move |line: Line<'_>| {
        let record = match line {
            Line::Json(bytes) => {
                let text = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())?;
                json_record(&schema, text)?
            }
            Line::Csv { fields, names } => {
                let names = names.ok_or("no CSV header: a connection starts with its header line")?;
                if fields.len() != names.len() {
                    return Err(format!("expected {} fields (as in the header), found {}", names.len(), fields.len()));
                }
                schema.extract(|f| {
                    let i = names.iter().position(|n| n == f)?;
                    fields.get(i).and_then(|b| std::str::from_utf8(b).ok()).map(Cow::Borrowed)
                })?
            }
        };
        Ok((record.1, record))
    })
}

/// Runs the job on a socket until the source ends (see [`RunArgs::listen`]).
pub(super) fn run_socket(args: &RunArgs) -> Result<Summary, RunError> {
    let config = args.cluster.config()?;
    let Some(format) = args.format else {
        return Err(RunError::Flag {
            flag: "format",
            reason: "a socket has no file name to tell the format from: pass --format csv or --format jsonl".into(),
        });
    };
    let set = AggregateSet::new(args.aggregates());
    let schema = args.schema(&set);
    let strategy = args.strategy()?;
    let watermark = args.watermark.unwrap_or(WatermarkStrategy::BoundedOutOfOrderness(args.max_out_of_orderness));
    let mut source = match (&args.listen, &args.connect) {
        // Worker 0 reads the connections; it runs in the first process, which binds now
        // so that the address (a free port for port 0) can be told.
        (Some(address), _) if args.cluster.process == 0 => {
            let s =
                Tcp::<Record>::bind(address).map_err(|e| RunError::Flag { flag: "listen", reason: e.to_string() })?;
            if let Some(a) = s.local_addr() {
                eprintln!("highwater run: listening on {a}");
            }
            s
        }
        (Some(address), _) => Tcp::listen(address.clone()),
        (None, Some(address)) => Tcp::connect(address.clone()),
        (None, None) => {
            return Err(RunError::Flag { flag: "listen", reason: "give --listen ADDR or --connect ADDR".into() })
        }
    };
    source = source.decode_with(decoder(schema)).watermark(watermark).batch_size(args.batch_size);
    if format == Format::Csv {
        source = source.csv();
    }
    if let Some(n) = args.max_connections {
        source = source.max_connections(n);
    }
    if let Some(ms) = args.idle_timeout {
        source = source.idle_timeout(Duration::from_millis(ms.max(0) as u64));
    }
    let outputs = Outputs::open(args)?;
    let malformed = Arc::new(AtomicU64::new(0));

    let (src, o, bad) = (source.clone(), outputs.clone(), malformed.clone());
    let summary = crate::pipeline::run(config, move |p| {
        let records = p.read("socket", src.clone())?;
        let records = records.stream().unary(Pipeline, "records", |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(_, r)| r));
                });
            }
        });
        aggregate_and_write(records, strategy.clone(), set.clone(), &o);
        // The DSL's dead letters are the source's here: the aggregate writes its own.
        let (dead_w, bad) = (o.dead.clone(), bad.clone());
        let mut chunk = String::new();
        p.dead_letters().stream().sink(Pipeline, "write-malformed", move |(input, _frontier)| {
            input.for_each(|_cap, data| {
                bad.fetch_add(data.len() as u64, Ordering::Relaxed);
                if let Some(w) = &dead_w {
                    chunk.clear();
                    for (_, d) in data.iter() {
                        chunk.push('{');
                        field(&mut chunk, true, "kind", &Value::from("malformed"));
                        field(&mut chunk, false, "location", &Value::from(d.location.as_str()));
                        field(&mut chunk, false, "reason", &Value::from(d.reason.as_str()));
                        field(&mut chunk, false, "text", &Value::from(d.record.as_str()));
                        chunk.push_str("}\n");
                    }
                    w.write(&chunk);
                }
            });
        });
        Ok(())
    })?;
    outputs.finish()?;
    Ok(Summary {
        files: 0,
        connections: source.connections(),
        records_read: summary.records_read,
        panes_emitted: outputs.panes.load(Ordering::Relaxed),
        late_dropped: outputs.late.load(Ordering::Relaxed),
        malformed: malformed.load(Ordering::Relaxed),
    })
}
