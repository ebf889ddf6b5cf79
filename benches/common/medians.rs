//! Reading back the medians criterion just measured (shared by the benches).

use std::time::SystemTime;

/// The median (ns) criterion recorded for `group/function` in this run.
/// Estimates files older than `since` belong to an earlier run (of a group
/// this run filtered out): `None`.
pub fn median(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = format!("target/criterion/{group}/{function}/new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}
