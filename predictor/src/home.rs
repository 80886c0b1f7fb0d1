//! Where `scripts/setup.sh` installs what the binary needs at run time.

use std::env;
use std::path::PathBuf;

/// The infergate data directory: `$INFERGATE_HOME`, else `$XDG_DATA_HOME/infergate`, else
/// `~/.local/share/infergate`. It holds `lib/libonnxruntime.so*` and `models/`.
pub fn infergate_home() -> Option<PathBuf> {
    if let Some(home) = env::var_os("INFERGATE_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(xdg) = env::var_os("XDG_DATA_HOME") {
        return Some(PathBuf::from(xdg).join("infergate"));
    }
    env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/infergate"))
}
