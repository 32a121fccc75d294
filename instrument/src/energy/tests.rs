use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn gpu(index: u32) -> GpuKey {
    GpuKey {
        index,
        uuid: format!("GPU-{index}"),
        name: "Test GPU".into(),
    }
}

/// A ledger fed with GPU `index` at a steady `watts` every `every` seconds from 0 to `until`, by the counter.
struct Clock {
    base: Instant,
}

impl Clock {
    fn at(&self, s: f64) -> Instant {
        self.base + Duration::from_secs_f64(s)
    }
}

fn steady(ledger: &Ledger, clock: &Clock, index: u32, watts: f64, every: f64, until: f64) {
    let mut t = 0.0;
    while t <= until + 1e-9 {
        ledger.sample(
            &gpu(index),
            clock.at(t),
            PowerReading {
                energy_j: Some(1000.0 + watts * t),
                power_w: Some(watts),
            },
        );
        t += every;
    }
}

fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= want.abs() * 0.05 + 1e-9,
        "got {got} J, expected {want} J (within 5 %)"
    );
}

fn all() -> GpuSelector {
    GpuSelector::default()
}

/// Samples and requests interleaved in time order, as in a real run: events (time, what).
enum Ev {
    Start(usize),
    End(usize),
}

/// Runs `events` against a GPU at `watts` sampled every `every` s, samples and request events in time order.
fn run(watts: f64, every: f64, events: &[(f64, Ev)], n: usize) -> Vec<Option<Energy>> {
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    let mut tickets: Vec<Option<Ticket>> = (0..n).map(|_| None).collect();
    let mut out: Vec<Option<Energy>> = vec![None; n];
    let end = events.iter().map(|(t, _)| *t).fold(0.0, f64::max) + 2.0 * every;
    let mut next_sample = 0.0;
    let mut i = 0;
    loop {
        let next_event = events.get(i).map(|(t, _)| *t);
        match next_event {
            Some(t) if t < next_sample => {
                match events[i].1 {
                    Ev::Start(r) => tickets[r] = Some(ledger.start(&all(), clock.at(t))),
                    Ev::End(r) => {
                        out[r] = tickets[r].take().and_then(|tk| tk.finish(clock.at(t)));
                    }
                }
                i += 1;
            }
            _ if next_sample <= end => {
                let t = next_sample;
                ledger.sample(
                    &gpu(0),
                    clock.at(t),
                    PowerReading {
                        energy_j: Some(5000.0 + watts * t),
                        power_w: Some(watts),
                    },
                );
                next_sample += every;
            }
            _ => break,
        }
    }
    out
}

#[test]
fn alone_then_together_then_alone_share_the_overlap() {
    // 300 W. A: 1–3 s, B: 2–4 s. A alone 1 s (300 J) + together 1 s (150 J); B the same, mirrored.
    let got = run(
        300.0,
        0.5,
        &[
            (1.0, Ev::Start(0)),
            (2.0, Ev::Start(1)),
            (3.0, Ev::End(0)),
            (4.0, Ev::End(1)),
        ],
        2,
    );
    for e in &got {
        let e = e.unwrap();
        close(e.joules, 450.0);
        assert_eq!(e.method, Method::Counter);
    }
}

#[test]
fn three_at_once_each_get_a_third() {
    // 240 W, three requests 1.2–3.2 s: each 2 s × 80 W = 160 J.
    let got = run(
        240.0,
        0.5,
        &[
            (1.2, Ev::Start(0)),
            (1.2, Ev::Start(1)),
            (1.2, Ev::Start(2)),
            (3.2, Ev::End(0)),
            (3.2, Ev::End(1)),
            (3.2, Ev::End(2)),
        ],
        3,
    );
    for e in got {
        close(e.unwrap().joules, 160.0);
    }
}

#[test]
fn a_request_spanning_many_samples_gets_power_times_time() {
    // 200 W, samples every 0.1 s, a request 0.35–12.35 s alone: 2400 J.
    let got = run(200.0, 0.1, &[(0.35, Ev::Start(0)), (12.35, Ev::End(0))], 1);
    close(got[0].unwrap().joules, 2400.0);
}

#[test]
fn a_request_inside_one_sample_interval_gets_its_share_of_it() {
    // Samples every 2 s; A 2.2–3.0 s alone except B 2.4–2.6 s beside it: A = 0.6×100 + 0.2×50 = 70 J, B = 10 J.
    let got = run(
        100.0,
        2.0,
        &[
            (2.2, Ev::Start(0)),
            (2.4, Ev::Start(1)),
            (2.6, Ev::End(1)),
            (3.0, Ev::End(0)),
        ],
        2,
    );
    close(got[0].unwrap().joules, 70.0);
    close(got[1].unwrap().joules, 10.0);
}

#[test]
fn a_power_step_between_samples_is_split_by_the_counter() {
    // 100 W for 0–1 s, 300 W after: sampled by the counter at 0, 1, 2; a request 0.5–1.5 s gets 50 + 150 J.
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    let s = |t: f64, e: f64| {
        ledger.sample(
            &gpu(0),
            clock.at(t),
            PowerReading {
                energy_j: Some(e),
                power_w: None,
            },
        )
    };
    s(0.0, 0.0);
    let ticket = ledger.start(&all(), clock.at(0.5));
    s(1.0, 100.0);
    s(2.0, 400.0);
    let e = ticket.finish(clock.at(2.0)).unwrap();
    // 0.5 s at 100 W, 1 s at 300 W.
    close(e.joules, 350.0);
}

#[test]
fn without_a_counter_power_samples_are_used_and_say_so() {
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    let mut ticket = None;
    for k in 0..=10 {
        let t = f64::from(k) * 0.5;
        ledger.sample(
            &gpu(0),
            clock.at(t),
            PowerReading {
                energy_j: None,
                power_w: Some(250.0),
            },
        );
        if k == 2 {
            ticket = Some(ledger.start(&all(), clock.at(t)));
        }
        if k == 6 {
            break;
        }
    }
    let e = ticket.unwrap().finish(clock.at(3.0)).unwrap();
    close(e.joules, 500.0);
    assert_eq!(e.method, Method::Power);
}

#[test]
fn the_part_after_the_newest_sample_uses_the_last_power() {
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    steady(&ledger, &clock, 0, 400.0, 1.0, 2.0);
    let ticket = ledger.start(&all(), clock.at(2.5));
    let e = ticket.finish(clock.at(3.5)).unwrap();
    close(e.joules, 400.0);
}

#[test]
fn idle_energy_is_what_no_request_was_given() {
    // 100 W over 0–10 s; one request 2–5 s: 300 J to it, 700 J idle.
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    steady(&ledger, &clock, 0, 100.0, 1.0, 2.0);
    let ticket = ledger.start(&all(), clock.at(2.0));
    ledger.sample(
        &gpu(0),
        clock.at(3.0),
        PowerReading {
            energy_j: Some(1300.0),
            power_w: Some(100.0),
        },
    );
    let e = ticket.finish(clock.at(5.0)).unwrap();
    for k in 6..=10 {
        let t = f64::from(k);
        ledger.sample(
            &gpu(0),
            clock.at(t),
            PowerReading {
                energy_j: Some(1000.0 + 100.0 * t),
                power_w: Some(100.0),
            },
        );
    }
    close(e.joules, 300.0);
    let idle = ledger.idle_energy();
    assert_eq!(idle.len(), 1);
    close(idle[0].1, 700.0);
}

#[test]
fn a_gpu_subset_counts_only_its_gpus() {
    // GPU 0 at 100 W, GPU 1 at 300 W. A request on GPU 1 only (by UUID), one on both, one on GPU 0 by index,
    // all 1–2.5 s: GPU 0 is shared by two (50 W each), GPU 1 by two (150 W each).
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    steady(&ledger, &clock, 0, 100.0, 0.5, 1.0);
    steady(&ledger, &clock, 1, 300.0, 0.5, 1.0);
    let only1 = GpuSelector::new(&["gpu-1".to_owned()]);
    let only0 = GpuSelector::new(&["0".to_owned()]);
    assert!(!only1.picks(&gpu(0)) && only1.picks(&gpu(1)));
    let a = ledger.start(&only1, clock.at(1.0));
    let b = ledger.start(&all(), clock.at(1.0));
    let c = ledger.start(&only0, clock.at(1.0));
    for k in 3..=5 {
        let t = f64::from(k) * 0.5;
        for (i, w) in [(0, 100.0), (1, 300.0)] {
            ledger.sample(
                &gpu(i),
                clock.at(t),
                PowerReading {
                    energy_j: Some(1000.0 + w * t),
                    power_w: Some(w),
                },
            );
        }
    }
    close(a.finish(clock.at(2.5)).unwrap().joules, 225.0);
    close(b.finish(clock.at(2.5)).unwrap().joules, 300.0);
    close(c.finish(clock.at(2.5)).unwrap().joules, 75.0);
}

#[test]
fn nothing_is_recorded_without_a_sampled_gpu() {
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    assert_eq!(
        ledger.start(&all(), clock.at(0.0)).finish(clock.at(1.0)),
        None
    );
    // One sample only: no power known yet.
    ledger.sample(&gpu(0), clock.at(1.0), PowerReading::default());
    assert_eq!(
        ledger.start(&all(), clock.at(1.0)).finish(clock.at(2.0)),
        None
    );
}

#[test]
fn a_dropped_ticket_leaves_the_gpu_to_the_others() {
    // A ticket dropped without finish (a failed request) stops counting: B alone afterwards gets full power.
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    steady(&ledger, &clock, 0, 100.0, 1.0, 3.0);
    drop(ledger.start(&all(), clock.at(3.0)));
    let b = ledger.start(&all(), clock.at(3.0));
    steady_from(&ledger, &clock, 100.0, 4.0, 6.0);
    close(b.finish(clock.at(6.0)).unwrap().joules, 300.0);
}

fn steady_from(ledger: &Ledger, clock: &Clock, watts: f64, from: f64, until: f64) {
    let mut t = from;
    while t <= until + 1e-9 {
        ledger.sample(
            &gpu(0),
            clock.at(t),
            PowerReading {
                energy_j: Some(1000.0 + watts * t),
                power_w: Some(watts),
            },
        );
        t += 1.0;
    }
}

#[test]
fn a_lost_gpu_stops_counting_and_leaves_new_requests_alone() {
    let ledger = Ledger::new();
    let clock = Clock {
        base: Instant::now(),
    };
    steady(&ledger, &clock, 0, 100.0, 1.0, 1.0);
    let a = ledger.start(&all(), clock.at(1.0));
    steady_from(&ledger, &clock, 100.0, 2.0, 2.0);
    ledger.gone("GPU-0");
    // Up to its last sample (2 s): 100 J; nothing after.
    close(a.finish(clock.at(5.0)).unwrap().joules, 100.0);
    assert_eq!(
        ledger.start(&all(), clock.at(5.0)).finish(clock.at(6.0)),
        None
    );
    assert!(ledger.idle_energy().is_empty());
}

#[test]
fn the_ring_stays_bounded() {
    let ledger = Arc::new(Ledger::default());
    let clock = Clock {
        base: Instant::now(),
    };
    steady(&ledger, &clock, 0, 100.0, 0.01, (RING as f64) * 0.02);
    let gpus = ledger.lock();
    assert_eq!(gpus[0].knots.len(), RING);
}
