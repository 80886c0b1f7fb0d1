//! What a benchmark ran on, and when: quoted next to every table of numbers.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine, read from `/proc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// CPUs this process may use.
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal` from `/proc/meminfo`, in MiB.
    pub memory_mib: u64,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
}

// === impl Machine ===

impl Machine {
    /// Reads the running machine; fields it cannot read say "unknown" (or 0).
    pub fn current() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: proc_field(&read("/proc/cpuinfo"), "model name")
                .unwrap_or_else(|| "unknown".to_owned()),
            memory_mib: proc_field(&read("/proc/meminfo"), "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} CPUs (nproc), {}, {} GiB RAM, Linux {}",
            self.nproc,
            self.cpu_model,
            self.memory_mib.div_ceil(1024),
            self.kernel
        )
    }
}

/// The value of the first `key : value` line of a `/proc` file.
fn proc_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
}

/// Today's date in UTC as `YYYY-MM-DD`, from the system clock.
pub fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).expect("days since 1970 fit in i64");
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day of month is 1..=31");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month is 1..=12");
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_across_leap_years_and_century_rules() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_780), (2026, 11, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn proc_fields_are_found_by_key() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: x\n";
        assert_eq!(
            proc_field(cpuinfo, "model name").as_deref(),
            Some("AMD EPYC")
        );
        assert_eq!(proc_field(cpuinfo, "missing"), None);
    }

    #[test]
    fn the_current_machine_has_at_least_one_cpu() {
        let machine = Machine::current();
        assert!(machine.nproc >= 1);
        assert!(machine.to_string().contains("CPUs (nproc)"));
    }
}
