//! The per-second buckets and their window averages.

use std::time::Duration;

use infergate_autoscaler::{AutoscalerConfig, BucketWindow, MetricWindows};

const fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn averages_over_the_full_window_once_it_is_old_enough() {
    let mut window = BucketWindow::new(s(10));
    for second in 0..20 {
        window.record(s(second), second as f64);
    }
    // Seconds 10..=19.
    assert_eq!(window.average(s(19)), 14.5);
    // Seconds 15..=24: nothing recorded after 19 counts as zero.
    assert_eq!(
        window.average(s(24)),
        (15 + 16 + 17 + 18 + 19) as f64 / 10.0
    );
    assert_eq!(window.average(s(40)), 0.0);
}

#[test]
fn a_young_series_averages_over_its_own_age() {
    let mut window = BucketWindow::new(s(60));
    assert_eq!(window.average(s(5)), 0.0, "no data yet");
    window.record(s(100), 30.0);
    window.record(s(101), 60.0);
    assert_eq!(window.average(s(101)), 45.0);
    assert_eq!(
        window.average(s(102)),
        30.0,
        "a silent second counts as zero"
    );
}

#[test]
fn records_in_the_same_second_add_up() {
    let mut window = BucketWindow::new(s(2));
    window.record(Duration::from_millis(3_100), 4.0);
    window.record(Duration::from_millis(3_900), 6.0);
    window.record(s(4), 2.0);
    assert_eq!(window.average(s(4)), 6.0);
}

#[test]
fn metric_windows_size_the_panic_window_from_the_stable_one() {
    let config = AutoscalerConfig::default();
    assert_eq!(config.panic_window(), s(6));
    let mut windows = MetricWindows::new(&config);
    for second in 0..60 {
        windows.record(s(second), if second >= 54 { 60.0 } else { 0.0 });
    }
    let metrics = windows.metrics(s(59), 3);
    assert_eq!(metrics.ready_replicas, 3);
    assert_eq!(metrics.panic, 60.0);
    assert_eq!(metrics.stable, 6.0);
}
