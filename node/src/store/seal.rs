//! The seal a cleanly closed store leaves beside its file, so that the next start can
//! skip redb's page-by-page check when the file is byte for byte what was closed.
//!
//! redb's integrity check on open walks every page of every tree against its checksum:
//! about 0.45 ms a megabyte here, over a second at 10 million posts, a start-up that grows
//! with history. A plain open is fast but trusts the file: it reads the allocator state
//! the last clean close recorded, and a page damaged outside redb may make it panic later,
//! or hand out a live page for a new write. The seal makes the fast open safe: after redb
//! has closed the file, the node records its length and digest (xxh3-128 of each 64 MiB
//! chunk, then of those digests), read by every core at once, about 0.1 s a gigabyte. The
//! next open recomputes it, and only a file that matches is opened without the check. Any
//! difference, a flipped bit anywhere (free pages included), a truncation, or a write
//! since the seal, sends the open back to the full check, which refuses damage exactly as
//! before. Like redb's own checksums, the seal guards against accidents, not against
//! someone who can rewrite both files.
//!
//! The seal is removed as the store opens: it describes a closed file, and a file that is
//! open is being written. A seal that survives anyway (its removal failed) cannot match
//! the file once anything is committed, so it costs a digest, never a wrong open.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use super::with_suffix;

/// What a seal file starts with: its format, so a later one is not misread.
const MAGIC: [u8; 8] = *b"cpseal01";
/// The file is digested in chunks of this size, each on whichever thread is free, so
/// that the digest is the same however many cores compute it.
const CHUNK_BYTES: u64 = 64 << 20;
/// Each thread reads its chunk in pieces of this size.
const READ_BYTES: usize = 4 << 20;
/// Digesting is bound by memory bandwidth; more threads than this gain nothing.
const MAX_THREADS: usize = 8;
const SEAL_LEN: usize = MAGIC.len() + 8 + 16;

/// The length and digest of a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digest {
    len: u64,
    xxh3: u128,
}

impl Digest {
    fn encode(self) -> [u8; SEAL_LEN] {
        let mut bytes = [0; SEAL_LEN];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..16].copy_from_slice(&self.len.to_le_bytes());
        bytes[16..].copy_from_slice(&self.xxh3.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Digest> {
        let (magic, rest) = bytes.split_first_chunk::<8>()?;
        let (len, xxh3) = rest.split_first_chunk::<8>()?;
        let xxh3: &[u8; 16] = xxh3.try_into().ok()?;
        (*magic == MAGIC).then(|| Digest {
            len: u64::from_le_bytes(*len),
            xxh3: u128::from_le_bytes(*xxh3),
        })
    }
}

/// Where the seal of the store at `store` lives.
pub(super) fn seal_path(store: &Path) -> PathBuf {
    with_suffix(store, ".seal")
}

/// Seals the closed store at `store`: writes its digest beside it, under a temporary name
/// first, so that a crash leaves either no seal or a whole one.
pub(super) fn seal(store: &Path) -> io::Result<()> {
    let digest = digest_of(&File::open(store)?, CHUNK_BYTES)?;
    let path = seal_path(store);
    let temporary = with_suffix(&path, ".new");
    let mut file = File::create(&temporary)?;
    file.write_all(&digest.encode())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)
}

/// Whether the store at `store` is byte for byte the file that was sealed, removing the
/// seal either way. No seal, an unreadable one and any I/O error all answer `false`: the
/// caller then checks every page, which reports what is really wrong.
pub(super) fn unseal(store: &Path) -> bool {
    let path = seal_path(store);
    // One byte past a seal's length is enough to tell a seal from anything else, whatever
    // sits under that name.
    let recorded = match File::open(&path).and_then(|file| {
        let mut bytes = Vec::with_capacity(SEAL_LEN + 1);
        file.take(SEAL_LEN as u64 + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    }) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return false,
        Err(error) => {
            tracing::warn!(%error, seal = %path.display(), "cannot read the store's seal");
            return false;
        }
    };
    if let Err(error) = std::fs::remove_file(&path) {
        tracing::warn!(%error, seal = %path.display(), "cannot remove the store's seal");
    }
    let Some(recorded) = Digest::decode(&recorded) else {
        tracing::warn!(seal = %path.display(), "the store's seal is not one this node writes");
        return false;
    };
    let Ok(file) = File::open(store) else {
        return false;
    };
    // A file of another length cannot match: no need to read it.
    file.metadata().is_ok_and(|meta| meta.len() == recorded.len)
        && digest_of(&file, CHUNK_BYTES).is_ok_and(|digest| digest == recorded)
}

/// The digest of `file`, `chunk_bytes` at a time on up to [`MAX_THREADS`] threads.
fn digest_of(file: &File, chunk_bytes: u64) -> io::Result<Digest> {
    let len = file.metadata()?.len();
    let chunks = usize::try_from(len.div_ceil(chunk_bytes)).map_err(io::Error::other)?;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
        .min(chunks.max(1));
    let digest_chunk = |chunk: usize, buffer: &mut [u8]| -> io::Result<u128> {
        let start = chunk as u64 * chunk_bytes;
        let end = (start + chunk_bytes).min(len);
        let mut hasher = Xxh3::new();
        let mut at = start;
        while at < end {
            let piece = &mut buffer[..usize::try_from(end - at)
                .unwrap_or(usize::MAX)
                .min(READ_BYTES)];
            file.read_exact_at(piece, at)?;
            hasher.update(piece);
            at += piece.len() as u64;
        }
        Ok(hasher.digest128())
    };
    let per_thread: Vec<io::Result<Vec<(usize, u128)>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                scope.spawn(move || {
                    let mut buffer = vec![0; READ_BYTES];
                    (first..chunks)
                        .step_by(threads)
                        .map(|chunk| Ok((chunk, digest_chunk(chunk, &mut buffer)?)))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a digest thread panicked")))
            })
            .collect()
    });
    let mut digests = vec![0_u128; chunks];
    for digested in per_thread {
        for (chunk, digest) in digested? {
            digests[chunk] = digest;
        }
    }
    let mut all = Vec::with_capacity(8 + 16 * chunks);
    all.extend_from_slice(&len.to_le_bytes());
    for digest in digests {
        all.extend_from_slice(&digest.to_le_bytes());
    }
    Ok(Digest {
        len,
        xxh3: xxh3_128(&all),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store-sized file in miniature: several chunks of 4 KiB and a short last one.
    const CHUNK: u64 = 4096;

    fn file_with(dir: &Path, bytes: &[u8]) -> PathBuf {
        let path = dir.join("chain.redb");
        std::fs::write(&path, bytes).expect("file written");
        path
    }

    fn bytes() -> Vec<u8> {
        (0..5 * CHUNK as usize + 123)
            .map(|i| (i * 31 % 251) as u8)
            .collect()
    }

    fn digest(path: &Path) -> Digest {
        digest_of(&File::open(path).expect("opens"), CHUNK).expect("digests")
    }

    #[test]
    fn a_sealed_file_unseals_once_and_the_seal_is_gone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = file_with(dir.path(), &bytes());
        seal(&store).expect("sealed");
        assert!(seal_path(&store).exists());
        assert!(unseal(&store));
        assert!(!seal_path(&store).exists(), "the seal outlived the open");
        assert!(
            !unseal(&store),
            "a second open trusted a file nothing sealed"
        );
    }

    #[test]
    fn every_flipped_bit_truncation_and_extension_changes_the_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = bytes();
        let sealed = digest(&file_with(dir.path(), &original));
        let boundaries = (0..=5).flat_map(|chunk| {
            let start = chunk * CHUNK as usize;
            [start.saturating_sub(1), start]
        });
        for offset in boundaries.chain([1, 2 * CHUNK as usize + 17, original.len() - 1]) {
            for bit in [0, 7] {
                let mut damaged = original.clone();
                damaged[offset] ^= 1 << bit;
                assert_ne!(
                    digest(&file_with(dir.path(), &damaged)),
                    sealed,
                    "bit {bit} of byte {offset}"
                );
            }
        }
        for len in [0, 1, CHUNK as usize, original.len() - 1] {
            assert_ne!(
                digest(&file_with(dir.path(), &original[..len])),
                sealed,
                "cut to {len}"
            );
        }
        let mut longer = original.clone();
        longer.push(0);
        assert_ne!(
            digest(&file_with(dir.path(), &longer)),
            sealed,
            "one byte more"
        );
        // Two chunks swapped hold the same bytes in another order.
        let mut swapped = original.clone();
        let (first, rest) = swapped.split_at_mut(CHUNK as usize);
        first.swap_with_slice(&mut rest[..CHUNK as usize]);
        assert_ne!(
            digest(&file_with(dir.path(), &swapped)),
            sealed,
            "chunks swapped"
        );
        assert_eq!(digest(&file_with(dir.path(), &original)), sealed);
    }

    #[test]
    fn a_store_changed_after_its_seal_or_with_a_foreign_seal_is_not_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = file_with(dir.path(), &bytes());
        seal(&store).expect("sealed");
        let mut changed = bytes();
        changed[3 * CHUNK as usize] ^= 1;
        std::fs::write(&store, &changed).expect("changed");
        assert!(!unseal(&store));
        assert!(!seal_path(&store).exists(), "a seal that failed was kept");
        seal(&store).expect("sealed");
        std::fs::write(&store, &changed[..changed.len() - 1]).expect("cut short");
        assert!(!unseal(&store), "trusted a file cut short");

        // The seal of this very file with megabytes after it: not a seal this node writes,
        // and only its first bytes are read.
        seal(&store).expect("sealed");
        let mut sealed_then_grown = std::fs::read(seal_path(&store)).expect("the seal");
        sealed_then_grown.resize(8 << 20, 0);
        for foreign in [
            &b""[..],
            b"cpseal01",
            &[0; SEAL_LEN],
            &[0; SEAL_LEN + 1],
            &sealed_then_grown,
        ] {
            std::fs::write(seal_path(&store), foreign).expect("seal written");
            assert!(!unseal(&store), "trusted the seal {foreign:?}");
        }
    }

    #[test]
    fn seals_read_back_what_they_record_and_nothing_else() {
        let digest = Digest {
            len: 0x0102_0304_0506_0708,
            xxh3: u128::MAX - 5,
        };
        let encoded = digest.encode();
        assert_eq!(Digest::decode(&encoded), Some(digest));
        let mut wrong_format = encoded;
        wrong_format[7] = b'2';
        assert_eq!(Digest::decode(&wrong_format), None);
        assert_eq!(Digest::decode(&encoded[..SEAL_LEN - 1]), None);
    }
}
