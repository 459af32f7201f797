//! The trigger grammar of the conformance format, with durations like `10s` accepted too.

use super::{Trigger, TriggerError};
use crate::duration::parse_ticks;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

pub(super) fn parse(text: &str) -> Result<Trigger, TriggerError> {
    let mut p = Parser { text, pos: 0 };
    let t = p.trigger()?;
    p.ws();
    if p.pos != text.len() {
        return Err(p.err("unexpected text after the trigger"));
    }
    Ok(t)
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &str) -> TriggerError {
        TriggerError::Syntax { text: self.text.to_string(), at: self.pos, reason: reason.to_string() }
    }
    fn ws(&mut self) {
        while self.text[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += 1;
        }
    }
    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        if self.text[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, s: &str) -> Result<(), TriggerError> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(self.err(&format!("expected `{s}`")))
        }
    }
    fn ident(&mut self) -> &'a str {
        self.ws();
        let start = self.pos;
        while self.text[self.pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
    fn number(&mut self) -> Result<i64, TriggerError> {
        self.ws();
        let start = self.pos;
        while self.text[self.pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '+') {
            self.pos += 1;
        }
        parse_ticks(&self.text[start..self.pos]).map_err(|e| {
            let mut err = self.err(&e);
            if let TriggerError::Syntax { at, .. } = &mut err {
                *at = start;
            }
            err
        })
    }
    fn list(&mut self) -> Result<Vec<Trigger>, TriggerError> {
        self.expect("(")?;
        let mut out = vec![self.trigger()?];
        while self.eat(",") {
            out.push(self.trigger()?);
        }
        self.expect(")")?;
        Ok(out)
    }
    fn trigger(&mut self) -> Result<Trigger, TriggerError> {
        let start = self.pos;
        let name = self.ident();
        Ok(match name {
            "default" => Trigger::Default,
            "never" => Trigger::Never,
            "after_synchronized_processing_time" => Trigger::AfterSynchronizedProcessingTime,
            "after_watermark" => {
                let mut early = None;
                let mut late = None;
                if self.eat("(") {
                    loop {
                        if self.eat(")") {
                            break;
                        }
                        let key = self.ident();
                        self.expect("=")?;
                        let t = Box::new(self.trigger()?);
                        match key {
                            "early" if early.is_none() => early = Some(t),
                            "late" if late.is_none() => late = Some(t),
                            _ => return Err(self.err("after_watermark takes `early=` and `late=` once each")),
                        }
                        if !self.eat(",") {
                            self.expect(")")?;
                            break;
                        }
                    }
                }
                Trigger::AfterWatermark { early, late }
            }
            "after_count" => {
                self.expect("(")?;
                let n = self.number()?;
                self.expect(")")?;
                if n < 1 {
                    return Err(self.err("after_count needs a count of at least 1"));
                }
                Trigger::AfterCount(n as u64)
            }
            "after_processing_time" => {
                self.expect("(")?;
                let d = self.number()?;
                self.expect(")")?;
                Trigger::AfterProcessingTime(d)
            }
            "repeatedly" => {
                self.expect("(")?;
                let t = self.trigger()?;
                self.expect(")")?;
                Trigger::Repeatedly(Box::new(t))
            }
            "after_each" => Trigger::AfterEach(self.list()?),
            "after_first" | "after_any" => Trigger::AfterFirst(self.list()?),
            "after_all" => Trigger::AfterAll(self.list()?),
            "or_finally" => {
                let mut ts = self.list()?;
                if ts.len() != 2 {
                    return Err(self.err("or_finally takes exactly two triggers"));
                }
                let until = ts.pop().unwrap();
                let first = ts.pop().unwrap();
                Trigger::OrFinally(Box::new(first), Box::new(until))
            }
            "" => return Err(self.err("expected a trigger")),
            other => {
                self.pos = start;
                return Err(self.err(&format!(
                    "unknown trigger `{other}`; expected default, never, after_watermark, after_count, after_processing_time, repeatedly, after_each, after_first, after_all or or_finally"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let cases = [
            "default",
            "never",
            "after_watermark",
            "after_watermark(early=after_count(3), late=after_count(1))",
            "after_watermark(late=after_processing_time(5))",
            "repeatedly(after_first(after_count(2), after_watermark))",
            "after_each(after_count(2), after_watermark)",
            "or_finally(repeatedly(after_count(2)), after_count(3))",
            "after_all(after_count(1), after_processing_time(10))",
            "after_synchronized_processing_time",
        ];
        for c in cases {
            let t = parse(c).unwrap();
            assert_eq!(t.to_string(), c);
        }
        assert_eq!(parse("after_watermark()").unwrap(), Trigger::after_watermark());
        assert_eq!(parse(" repeatedly ( after_count( 2 ) ) ").unwrap(), Trigger::repeatedly(Trigger::after_count(2)));
        assert_eq!(
            parse("after_processing_time(2s)").unwrap(),
            Trigger::after_processing_time(std::time::Duration::from_secs(2))
        );
    }

    #[test]
    fn reports_position_and_reason() {
        match parse("after_count(x)") {
            Err(TriggerError::Syntax { at, .. }) => assert_eq!(at, 12),
            other => panic!("{other:?}"),
        }
        assert!(parse("after_cont(2)").unwrap_err().to_string().contains("unknown trigger"));
        assert!(parse("after_count(0)").is_err());
        assert!(parse("default extra").is_err());
        assert!(parse("or_finally(after_count(1))").is_err());
    }
}
