//! Event sourcing: the log is the source of truth. An append-only log of account events
//! (`opened`, `deposited`, `withdrew`, `closed`; `examples/data/accounts.jsonl`) is
//! replayed into each account's balance, kept as the key's state by a process step. An
//! event that cannot happen — money from an account that does not exist, a withdrawal past
//! the balance, a deposit into a closed account — changes nothing and becomes a dead letter
//! with the reason. Every accepted event emits the account's new row, an upsert of the
//! balance table: the latest row of each account is the table.
//!
//! Replaying the same log gives the same table, every time and at any worker count, and
//! the same events arriving on a socket give the same table as the file (`docs/event-sourcing.md`).
//!
//! ```text
//! cargo run -p highwater-examples --example event_sourcing
//! ```

use highwater::model::watermark::WatermarkStrategy;
use highwater::pipeline::{
    run, Collector, Context, DeadLetter, Files, KeyedProcess, ProcessError, ProcessSpec, RunConfig, StateSpec, Tcp,
    ValueState,
};
use highwater::source::Source;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// The account.
    pub account: String,
    /// `opened`, `deposited`, `withdrew` or `closed`.
    pub kind: String,
    /// The money moved (deposits and withdrawals), in cents.
    pub amount: i64,
    /// When it happened, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// A row of the balance table: the account as of its latest accepted event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Balance {
    /// The account.
    pub account: String,
    /// Its balance.
    pub balance: i64,
    /// Whether it is open.
    pub open: bool,
    /// How many events it has accepted (the row's version).
    pub version: u64,
    /// The event time of the latest one.
    pub as_of_ms: i64,
}

/// What the log says of an account so far: its state in the process step.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
    open: bool,
    closed: bool,
    version: u64,
}

/// Applies each event of an account to its state, or refuses it with the reason.
struct Ledger {
    account: ValueState<Account>,
}

impl KeyedProcess<String, AccountEvent> for Ledger {
    type Out = Balance;

    fn on_record(
        &self,
        ctx: &mut Context<'_, String, Balance>,
        key: &String,
        e: &AccountEvent,
    ) -> Result<(), ProcessError> {
        let mut a = ctx.state().get(&self.account)?.unwrap_or_default();
        let refused = match e.kind.as_str() {
            "opened" if a.open => Some("the account is already open".to_string()),
            "opened" if a.closed => Some("a closed account stays closed".to_string()),
            "opened" => {
                a.open = true;
                None
            }
            _ if !a.open && !a.closed => Some("no such account: it was never opened".to_string()),
            _ if a.closed => Some("the account is closed".to_string()),
            "deposited" | "withdrew" if e.amount <= 0 => Some(format!("the amount must be positive, not {}", e.amount)),
            "deposited" => {
                a.balance += e.amount;
                None
            }
            "withdrew" if e.amount > a.balance => {
                Some(format!("insufficient funds: the balance is {}, the withdrawal {}", a.balance, e.amount))
            }
            "withdrew" => {
                a.balance -= e.amount;
                None
            }
            "closed" if a.balance != 0 => Some(format!("the balance is {}: withdraw it before closing", a.balance)),
            "closed" => {
                a.open = false;
                a.closed = true;
                None
            }
            other => Some(format!("unknown event kind `{other}`")),
        };
        if let Some(reason) = refused {
            ctx.dead_letter(format!("{} {} of {}: {reason}", e.kind, e.account, e.amount));
            return Ok(());
        }
        a.version += 1;
        ctx.state().set(&self.account, &a)?;
        let row =
            Balance { account: key.clone(), balance: a.balance, open: a.open, version: a.version, as_of_ms: e.time_ms };
        ctx.emit(ctx.event_time(), row);
        Ok(())
    }
}

/// The bundled log.
pub const LOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/accounts.jsonl");

/// Replays `source` on `workers` workers: the upserts of the balance table in the order
/// each account accepted its events, and the dead letters (sorted).
pub fn replay<S>(workers: usize, source: S) -> (Vec<Balance>, Vec<DeadLetter>)
where
    S: Source<AccountEvent> + Clone + Send + Sync + 'static,
{
    let upserts = Collector::new();
    let dead = Collector::new();
    let (u, d) = (upserts.clone(), dead.clone());
    run(RunConfig::workers(workers), move |p| {
        let mut state = StateSpec::new();
        let ledger = Ledger { account: state.value("account") };
        p.read("log", source.clone())?
            .key_by(|e: &AccountEvent| e.account.clone())
            .process("ledger", ProcessSpec::new(state, ledger))?
            .write(u.clone());
        p.dead_letters().write(d.clone());
        Ok(())
    })
    .expect("the ledger runs");
    let mut upserts: Vec<Balance> = upserts.take().into_iter().map(|(_, b)| b).collect();
    upserts.sort_by(|a, b| (&a.account, a.version).cmp(&(&b.account, b.version)));
    let mut dead: Vec<DeadLetter> = dead.take().into_iter().map(|(_, d)| d).collect();
    dead.sort_by_key(|d| (d.location.to_string(), d.reason.clone()));
    (upserts, dead)
}

/// The log as a file.
pub fn from_file() -> Files<AccountEvent> {
    Files::<AccountEvent>::json_lines([LOG])
        .event_time(|e: &AccountEvent| e.time_ms)
        .watermark(WatermarkStrategy::Ascending)
}

/// The same log sent on one connection to a socket source; returns what [`replay`] does.
pub fn from_socket(workers: usize) -> (Vec<Balance>, Vec<DeadLetter>) {
    let source = Tcp::<AccountEvent>::bind("127.0.0.1:0")
        .expect("a free loopback port")
        .json_lines()
        .event_time(|e: &AccountEvent| e.time_ms)
        .watermark(WatermarkStrategy::Ascending)
        .max_connections(1);
    let address: SocketAddr = source.local_addr().expect("bound");
    let feeder = std::thread::spawn(move || {
        let log = std::fs::read(LOG).expect("the bundled log");
        let mut s = std::net::TcpStream::connect(address).expect("the ledger listens");
        s.write_all(&log).expect("the ledger reads");
    });
    let out = replay(workers, source);
    feeder.join().expect("the feeder ends");
    out
}

/// The table: the latest row of each account.
pub fn table(upserts: &[Balance]) -> BTreeMap<String, Balance> {
    upserts.iter().map(|b| (b.account.clone(), b.clone())).collect()
}

fn main() {
    let (upserts, dead) = replay(2, from_file());
    for b in &upserts {
        println!("{}", serde_json::to_string(b).expect("a row"));
    }
    for d in &dead {
        eprintln!("dead letter: {} {}: {}", d.step, d.location, d.reason);
    }
    eprintln!("the table:");
    for b in table(&upserts).values() {
        eprintln!("  {:<6} {:>5} {}", b.account, b.balance, if b.open { "open" } else { "closed" });
    }
}

#[test]
fn event_sourcing_snapshot() {
    let (upserts, dead) = replay(1, from_file());
    // Replayed again, and at another worker count: the same rows, the same dead letters.
    assert_eq!(replay(1, from_file()), (upserts.clone(), dead.clone()), "the same log replayed twice");
    assert_eq!(replay(2, from_file()), (upserts.clone(), dead.clone()), "the same log at 2 workers");
    // The same events from a socket: the same table (and the same refusals, at another
    // location: the connection instead of the file).
    let (live, live_dead) = from_socket(2);
    assert_eq!(table(&live), table(&upserts), "the socket's table is the file's");
    assert_eq!(live, upserts, "each account's upserts in the same order");
    let reasons = |d: &[DeadLetter]| {
        let mut r: Vec<String> = d.iter().map(|d| d.reason.clone()).collect();
        r.sort();
        r
    };
    assert_eq!(reasons(&live_dead), reasons(&dead));
    let rows: Vec<String> = upserts.iter().map(|b| serde_json::to_string(b).unwrap()).collect();
    // The log's path as in the repository, wherever it is checked out.
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    let refused: Vec<String> = dead
        .iter()
        .map(|d| format!("{} | {} | {}", d.step, d.location.to_string().replace(here, "examples/"), d.reason))
        .collect();
    let table: Vec<String> = table(&upserts)
        .values()
        .map(|b| format!("{} {} {}", b.account, b.balance, if b.open { "open" } else { "closed" }))
        .collect();
    insta::assert_snapshot!(format!(
        "upserts:\n{}\ndead letters:\n{}\ntable:\n{}",
        rows.join("\n"),
        refused.join("\n"),
        table.join("\n")
    ));
}
