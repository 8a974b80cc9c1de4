//! Digests of streamed bytes: SHA-512 for every file, SHA-1 only for Maven's published `.sha1`.

use sha1::Sha1;
use sha2::{Digest, Sha512};
use std::io::{self, Read, Write};

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `from` to `to`, returning the bytes copied, their SHA-512 and SHA-1 (hex); `tick` is
/// told of each chunk (progress bars).
pub fn copy_hashing(
    from: &mut dyn Read,
    to: &mut dyn Write,
    tick: &mut dyn FnMut(u64),
) -> io::Result<(u64, String, String)> {
    let mut sha512 = Sha512::new();
    let mut sha1 = Sha1::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha512.update(&buf[..n]);
        sha1.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        total += n as u64;
        tick(n as u64);
    }
    Ok((total, hex(&sha512.finalize()), hex(&sha1.finalize())))
}

/// The SHA-512 (hex) and length of everything `from` yields.
pub fn sha512_of(from: &mut dyn Read) -> io::Result<(u64, String)> {
    let (n, d, _) = copy_hashing(from, &mut io::sink(), &mut |_| {})?;
    Ok((n, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_sha512sum_and_sha1sum() {
        // `printf abc | sha512sum` and `| sha1sum`.
        let (n, d512, d1) =
            copy_hashing(&mut &b"abc"[..], &mut io::sink(), &mut |_| {}).unwrap();
        assert_eq!(n, 3);
        assert_eq!(d512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
        assert_eq!(d1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
