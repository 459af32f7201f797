//! Winning bids: each auction's highest valid bid when it closes (Beam's `WinningBids`,
//! the core of Nexmark's q4, q6 and q9), as a process step over auctions connected with
//! their bids.

use super::{Auction, Bid, Event};
use crate::pipeline::{
    BuildError, Collection, Context, KeyedProcess, ListState, ProcessError, ProcessSpec, Side, StateSpec, Timer,
    ValueState,
};
use serde::{Deserialize, Serialize};

/// An auction and its winning bid (Beam's `AuctionBid`, with its field names).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuctionBid {
    /// The auction.
    pub auction: Auction,
    /// Its winning bid.
    pub bid: Bid,
}

/// Whether `bid` beats `best` (Beam's `PRICE_THEN_DESCENDING_TIME`: the higher price, then
/// the earlier bid; then, so that the winner does not depend on arrival order, the lower
/// bidder id).
fn beats(bid: &Bid, best: &Bid) -> bool {
    (bid.price, -bid.date_time, std::cmp::Reverse(bid.bidder))
        > (best.price, -best.date_time, std::cmp::Reverse(best.bidder))
}

/// Whether `bid` counts for `auction`: made while it was open (`[date_time, expires)`) at
/// no less than its reserve price.
fn valid(bid: &Bid, terms: &Terms) -> bool {
    terms.opens <= bid.date_time && bid.date_time < terms.expires && bid.price >= terms.reserve
}

/// What a bid is checked against: an auction's opening, expiry and reserve (kept apart
/// from the auction, whose padding is not decoded for every bid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Terms {
    opens: i64,
    expires: i64,
    reserve: u64,
}

/// The winning bid of each auction (Beam's `WinningBids`): per auction id, the auction and
/// its bids meet in one process step ([`WinningBidsProcess`]); when the watermark passes the
/// auction's last open millisecond (`expires - 1`), its best valid bid — the highest price
/// at or above the reserve, made while the auction was open; the earlier bid at the same
/// price — comes out at that time, with the auction. An auction without a valid bid emits
/// nothing.
///
/// A bid that comes before its auction is kept until the watermark passes its time (an
/// auction opened at or before the bid would be late after that); a bid for an auction that
/// has closed does not win anything. An auction that comes after the watermark passed its
/// opening is late (its bids may be gone): a dead letter of kind `too_late`.
pub fn winning_bids<'s>(events: Collection<'s, Event>, name: &str) -> Result<Collection<'s, AuctionBid>, BuildError> {
    let auctions = events
        .clone()
        .flat_map(|e| match e {
            Event::Auction(a) => Some(*a),
            _ => None,
        })
        .map_to_keyed(|a| (a.id, a));
    let bids = events
        .flat_map(|e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .map_to_keyed(|b| (b.auction, b));
    let mut state = StateSpec::new();
    let auction = state.value("auction");
    let terms = state.value("terms");
    let best = state.value("best-bid");
    let early = state.list("early-bids");
    let early_until = state.value("early-until");
    let process = WinningBidsProcess { auction, terms, best, early, early_until };
    auctions.connect(bids).process(name, ProcessSpec::new(state, process))
}

/// The [`KeyedProcess`] of [`winning_bids`], per auction id.
pub struct WinningBidsProcess {
    /// The auction, from its opening until it closes.
    auction: ValueState<Auction>,
    /// Its terms, for checking bids.
    terms: ValueState<Terms>,
    /// Its best valid bid so far.
    best: ValueState<Bid>,
    /// Bids that came before their auction.
    early: ListState<Bid>,
    /// When the `early` timer fires: the earliest early bid's time.
    early_until: ValueState<i64>,
}

const CLOSE: &str = "close";
const EARLY: &str = "early";

type Ctx<'c, 'a> = &'c mut Context<'a, u64, AuctionBid>;

impl WinningBidsProcess {
    /// Considers `bid` for `auction`.
    fn offer(&self, ctx: Ctx<'_, '_>, terms: &Terms, bid: &Bid) -> Result<(), ProcessError> {
        if !valid(bid, terms) {
            return Ok(());
        }
        if ctx.state().get(&self.best)?.is_none_or(|best| beats(bid, &best)) {
            ctx.state().set(&self.best, bid)?;
        }
        Ok(())
    }
}

impl KeyedProcess<u64, Side<Auction, Bid>> for WinningBidsProcess {
    type Out = AuctionBid;

    fn on_record(&self, ctx: Ctx<'_, '_>, _: &u64, value: &Side<Auction, Bid>) -> Result<(), ProcessError> {
        let wm = ctx.watermark();
        match value {
            Side::Left(a) => {
                if ctx.state().get(&self.terms)?.is_some() {
                    return Err(ProcessError::refused(format!("a second auction with the id {}", a.id)));
                }
                let close = a.expires.saturating_sub(1);
                if a.date_time < wm || close < wm {
                    return Err(ProcessError::too_late(format!(
                        "the auction opened at {} and closing at {} is behind the watermark {wm}: bids on it may be gone",
                        a.date_time, a.expires
                    )));
                }
                let terms = Terms { opens: a.date_time, expires: a.expires, reserve: a.reserve };
                ctx.state().set(&self.auction, a)?;
                ctx.state().set(&self.terms, &terms)?;
                for bid in ctx.state().list(&self.early)? {
                    self.offer(ctx, &terms, &bid)?;
                }
                ctx.state().clear(&self.early)?;
                ctx.state().clear(&self.early_until)?;
                ctx.timers().delete(crate::pipeline::TimeDomain::EventTime, EARLY);
                ctx.timers().set_event_time(close, CLOSE)
            }
            Side::Right(b) => match ctx.state().get(&self.terms)? {
                Some(terms) => self.offer(ctx, &terms, b),
                // Before its auction: kept while an auction opened at or before it may
                // still come (not late).
                None if b.date_time >= wm => {
                    ctx.state().push(&self.early, b)?;
                    if ctx.state().get(&self.early_until)?.is_none_or(|t| b.date_time < t) {
                        ctx.timers().set_event_time(b.date_time, EARLY)?;
                        ctx.state().set(&self.early_until, &b.date_time)?;
                    }
                    Ok(())
                }
                // Its auction closed, or it can no longer open before the bid.
                None => Ok(()),
            },
        }
    }

    fn on_timer(&self, ctx: Ctx<'_, '_>, _: &u64, timer: &Timer) -> Result<(), ProcessError> {
        match timer.tag.as_str() {
            CLOSE => {
                let auction = ctx.state().get(&self.auction)?;
                let best = ctx.state().get(&self.best)?;
                ctx.state().clear_all();
                if let (Some(auction), Some(bid)) = (auction, best) {
                    ctx.emit(timer.time, AuctionBid { auction, bid });
                }
                Ok(())
            }
            EARLY => {
                // No auction opened at or before these bids can come now.
                let kept: Vec<Bid> =
                    ctx.state().list(&self.early)?.into_iter().filter(|b| b.date_time > timer.time).collect();
                ctx.state().clear(&self.early)?;
                ctx.state().clear(&self.early_until)?;
                for b in &kept {
                    ctx.state().push(&self.early, b)?;
                }
                if let Some(next) = kept.iter().map(|b| b.date_time).min() {
                    ctx.timers().set_event_time(next, EARLY)?;
                    ctx.state().set(&self.early_until, &next)?;
                }
                Ok(())
            }
            other => Err(ProcessError::refused(format!("a timer `{other}` winning bids did not set"))),
        }
    }
}
