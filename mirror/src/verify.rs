//! `dm-mirror verify`: every file the index lists is re-read and checked against the index and
//! its `.sha512`.

use crate::build::read_index;
use crate::hash;
use dm_clients::mirror::parse_sha512_line;
use std::fs;
use std::path::Path;

/// One file that is not what the index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub problem: String,
}

/// The problems of the mirror in `dir`, in the index's order (none: it is sound). `Err` when
/// the index itself cannot be read.
pub fn verify(dir: &Path) -> Result<Vec<Problem>, String> {
    if !dir.join(dm_clients::mirror::INDEX_PATH).is_file() {
        return Err(format!("{}: no {} (not a mirror)", dir.display(), dm_clients::mirror::INDEX_PATH));
    }
    let index = read_index(dir)?;
    let mut problems = Vec::new();
    for a in &index.artifacts {
        let mut bad = |problem: String| problems.push(Problem { file: a.file.clone(), problem });
        if crate::store::check_key(&a.file).is_err() {
            bad("the index names a path outside the mirror".into());
            continue;
        }
        let name = a.file.rsplit('/').next().unwrap_or(&a.file);
        match fs::read_to_string(dir.join(a.checksum_file())) {
            Ok(text) => match parse_sha512_line(&text, name) {
                Ok(d) if d == a.sha512 => {}
                Ok(d) => bad(format!("its .sha512 says {d}, the index {}", a.sha512)),
                Err(e) => bad(format!("its .sha512: {e}")),
            },
            Err(e) => bad(format!("cannot read its .sha512: {e}")),
        }
        match fs::File::open(dir.join(&a.file)).and_then(|mut f| hash::sha512_of(&mut f)) {
            Ok((bytes, _)) if bytes != a.bytes => {
                bad(format!("{bytes} bytes, the index says {}", a.bytes))
            }
            Ok((_, d)) if d != a.sha512 => bad(format!("SHA-512 {d}, the index says {}", a.sha512)),
            Ok(_) => {}
            Err(e) => bad(format!("cannot read it: {e}")),
        }
    }
    Ok(problems)
}
