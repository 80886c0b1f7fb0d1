//! Small hand-written modules (WAT) that follow, bend or break the ABI: the transformer's own
//! tests and the gateway's end-to-end tests load them (feature `fixtures`).

/// Memory, a growing bump `alloc`, and `$pack (status, ptr, len) -> i64` (ABI.md). Constants
/// live below address 1024, allocations above.
const PRELUDE: &str = r#"
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (global.get $next))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (i32.add (i32.shr_u (local.get $end) (i32.const 16)) (i32.const 1))
                                    (memory.size)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $next (local.get $end))
    (local.get $ptr))
  (func $pack (param $status i64) (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (local.get $status) (i64.const 60))
      (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32))
              (i64.extend_i32_u (local.get $ptr)))))
"#;

/// A module made of [`PRELUDE`] and `items` (whose `(import ...)` lines move to the front,
/// where WAT wants them).
pub fn module(items: &str) -> Vec<u8> {
    let (imports, rest): (Vec<&str>, Vec<&str>) = items
        .lines()
        .partition(|line| line.trim_start().starts_with("(import"));
    wat(&format!(
        "(module {} {PRELUDE} {})",
        imports.join("\n"),
        rest.join("\n")
    ))
}

/// A module exactly as written (for ones that leave out part of the ABI).
pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text)
        .unwrap_or_else(|error| panic!("fixture does not assemble: {error}\n{text}"))
}

/// Both entry points return their input (status 0: JSON in the same protocol).
pub const ECHO: &str = r#"
  (func $echo (param $in i32) (param $len i32) (param i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 0) (local.get $in) (local.get $len)))
  (export "preprocess" (func $echo))
  (export "postprocess" (func $echo))
"#;

/// `preprocess` returns its config; `postprocess` returns its two protocol codes as
/// `[in,client]` with status 2 (V2).
pub const CONFIG_AND_PROTOCOLS: &str = r#"
  (func (export "preprocess") (param i32 i32) (param $cfg i32) (param $cfg_len i32) (param i32 i32) (result i64)
    (call $pack (i64.const 0) (local.get $cfg) (local.get $cfg_len)))
  (func (export "postprocess") (param i32 i32 i32 i32) (param $in i32) (param $client i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (i32.const 5)))
    (i32.store8 (local.get $out) (i32.const 91))
    (i32.store8 offset=1 (local.get $out) (i32.add (i32.const 48) (local.get $in)))
    (i32.store8 offset=2 (local.get $out) (i32.const 44))
    (i32.store8 offset=3 (local.get $out) (i32.add (i32.const 48) (local.get $client)))
    (i32.store8 offset=4 (local.get $out) (i32.const 93))
    (call $pack (i64.const 2) (local.get $out) (i32.const 5)))
"#;

/// Status 3: pass the input through.
pub const UNCHANGED: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 3) (i32.const 0) (i32.const 0)))
"#;

/// Loops forever.
pub const SPIN: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (loop $forever (br $forever))
    (unreachable))
"#;

/// Its start function loops forever (instantiation itself never ends).
pub const SPIN_AT_START: &str = r#"
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 3) (i32.const 0) (i32.const 0)))
"#;

/// Grows memory 1 MiB at a time, writing to every new page, until growth is refused; then
/// traps, like a Rust guest whose allocation failed.
pub const HOG: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (local $page i32) (local $i i32)
    (loop $more
      (local.set $page (memory.grow (i32.const 16)))
      (if (i32.eq (local.get $page) (i32.const -1)) (then (unreachable)))
      (local.set $i (i32.const 0))
      (loop $touch
        (i32.store8 (i32.shl (i32.add (local.get $page) (local.get $i)) (i32.const 16)) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $touch (i32.lt_u (local.get $i) (i32.const 16))))
      (br $more))
    (unreachable))
"#;

/// Returns bytes that are not JSON.
pub const NOT_JSON: &str = r#"
  (data (i32.const 0) "not json {")
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 0) (i32.const 0) (i32.const 10)))
"#;

/// Returns a range far outside its memory.
pub const OUT_OF_BOUNDS: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 0) (i32.const 0x7fff0000) (i32.const 100)))
"#;

/// Returns status 9, which the ABI does not define.
pub const UNKNOWN_STATUS: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 9) (i32.const 0) (i32.const 0)))
"#;

/// Returns 64 KiB of `[0,0,...]`-free zeros: too large for a 1 KiB output cap.
pub const BIG_OUTPUT: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 0) (i32.const 0) (i32.const 65536)))
"#;

/// Status 4 with a message: the input is refused.
pub const REJECT: &str = r#"
  (data (i32.const 0) "petal_width is missing")
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 4) (i32.const 0) (i32.const 22)))
  (func (export "postprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $pack (i64.const 4) (i32.const 0) (i32.const 22)))
"#;

/// Writes a message to stderr (WASI `fd_write`), then traps.
pub const PANIC: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (data (i32.const 100) "\c8\00\00\00\1c\00\00\00")
  (data (i32.const 200) "panicked at src/lib.rs:\0aboom")
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (drop (call $fd_write (i32.const 2) (i32.const 100) (i32.const 1) (i32.const 300)))
    (unreachable))
"#;

/// Traps without a word.
pub const UNREACHABLE: &str = r#"
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (unreachable))
"#;

/// Calls WASI `proc_exit(3)`.
pub const EXIT: &str = r#"
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (call $exit (i32.const 3))
    (unreachable))
"#;

/// Calls an import the host does not provide (a clock).
pub const CLOCK: &str = r#"
  (import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))
  (func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64)
    (drop (call $now (i32.const 0) (i64.const 0) (i32.const 0)))
    (call $pack (i64.const 3) (i32.const 0) (i32.const 0)))
"#;

/// Counts calls in a global and in memory, and answers `{"global":G,"memory":M,"echo":<input>}`:
/// in a fresh instance both counts are 1.
pub const COUNTER: &str = r#"
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 32) "{\"global\":")
  (data (i32.const 48) ",\"memory\":")
  (data (i32.const 64) ",\"echo\":")
  (func (export "preprocess") (param $in i32) (param $len i32) (param i32 i32 i32 i32) (result i64)
    (local $out i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (local.set $out (call $alloc (i32.add (local.get $len) (i32.const 31))))
    (memory.copy (local.get $out) (i32.const 32) (i32.const 10))
    (i32.store8 offset=10 (local.get $out) (i32.add (i32.const 48) (global.get $calls)))
    (memory.copy (i32.add (local.get $out) (i32.const 11)) (i32.const 48) (i32.const 10))
    (i32.store8 offset=21 (local.get $out) (i32.add (i32.const 48) (i32.load (i32.const 16))))
    (memory.copy (i32.add (local.get $out) (i32.const 22)) (i32.const 64) (i32.const 8))
    (memory.copy (i32.add (local.get $out) (i32.const 30)) (local.get $in) (local.get $len))
    (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 30)) (local.get $len)) (i32.const 125))
    (call $pack (i64.const 0) (local.get $out) (i32.add (local.get $len) (i32.const 31))))
"#;
