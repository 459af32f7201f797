use super::*;
use crate::pipeline::Windowing;
use highwater_operators::combine::Sum;
use highwater_operators::trigger::Trigger;
use std::time::Duration;

#[test]
fn scratch() {
    let stream = TestStream::new()
        .add_elements([(1, ('a', 5u64)), (2, ('a', 3))])
        .advance_processing_time(Duration::from_millis(500))
        .advance_processing_time(Duration::from_millis(501))
        .advance_watermark_to(10)
        .add_element(4, ('a', 10))
        .advance_watermark_to(25)
        .add_element(5, ('a', 1));
    for w in [1, 2, 4] {
        let result = Harness::new(stream.clone()).workers(w).run(|p, input| {
            let trigger = Trigger::after_watermark()
                .with_early(Trigger::after_processing_time(1_000))
                .with_late(Trigger::after_count(1));
            p.read_keyed("scores", input)?
                .window(Windowing::fixed(10).trigger(trigger).allowed_lateness(10).accumulating())
                .aggregate("total", Sum::default())
        })
        .unwrap();
        println!("{result}");
    }
}
