//! The fast loader of the `retention` calculator, and its `csv` crate fallback.

use clinic_ops::metrics::retention::{MAX_UNIX_SECONDS, MIN_UNIX_SECONDS};

use super::Fail;

/// The crate's id hasher (rustc-hash's `FxHasher`) for the rare long ids and the csv path:
/// patient ids come from the clinic's own export, so hash flooding is not a concern here and
/// speed is.
type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

#[derive(Default)]
pub(super) struct Rows {
    pub(super) patients: Vec<u32>,
    pub(super) times: Vec<i64>,
    /// Rows `..split` and `split..` hold disjoint patients, each numbered densely from 0, so
    /// the two shards can be computed on two threads and their matrices merged.
    pub(super) split: usize,
}

/// Where the columns we need are, from the header.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pub(super) patient: usize,
    pub(super) timestamp: usize,
    fields: usize,
}

pub(super) fn layout(header: &[&str]) -> Result<Layout, Fail> {
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| {
                Fail(format!(
                    "line 1: missing column {name} (expected the header {})",
                    super::HEADER
                ))
            })
    };
    Ok(Layout {
        patient: find("patient_id")?,
        timestamp: find("timestamp")?,
        fields: header.len(),
    })
}

/// Ten ASCII digits (every Unix time from 2001 to 2286) in a few multiplies, or `None` for
/// anything else, which then takes the general path.
#[inline]
fn ten_digits(f: &[u8]) -> Option<i64> {
    let (head, tail) = (f.get(..8)?, f.get(8..)?);
    let [t0, t1] = *tail else { return None };
    let mut w = [0u8; 8];
    w.copy_from_slice(head);
    let x = u64::from_le_bytes(w) ^ 0x3030_3030_3030_3030;
    // A byte above 9 sets its high bit in `x + 0x76` or in `x` itself.
    if ((x.wrapping_add(0x7676_7676_7676_7676)) | x) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    let (d8, d9) = (t0.wrapping_sub(b'0'), t1.wrapping_sub(b'0'));
    if d8 > 9 || d9 > 9 {
        return None;
    }
    // Little-endian: the first digit is the lowest byte and the most significant.
    let v = (x.wrapping_mul(10) + (x >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0xffff_ffff;
    Some(v as i64 * 100 + i64::from(d8) * 10 + i64::from(d9))
}

pub(super) fn parse_ts(field: &[u8]) -> Result<i64, String> {
    if let Some(v) = ten_digits(field)
        && v <= MAX_UNIX_SECONDS
    {
        return Ok(v);
    }
    let shown = || String::from_utf8_lossy(field).into_owned();
    let t = field.trim_ascii();
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    // One pass: accumulate and check together (this runs ten million times).
    let mut v = 0i64;
    let mut ok = !digits.is_empty() && digits.len() <= 18;
    for &d in digits {
        let x = d.wrapping_sub(b'0');
        ok &= x < 10;
        v = v.wrapping_mul(10).wrapping_add(i64::from(x));
    }
    if !ok {
        return Err(format!("timestamp {:?} is not whole Unix seconds", shown()));
    }
    let v = if neg { -v } else { v };
    // Exports date visits after 1970; a negative time is a broken export, not a 1969 cohort.
    if v < 0 {
        return Err(format!("timestamp {v} is negative (before 1970-01-01)"));
    }
    if !(MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&v) {
        return Err(format!("timestamp {v} is outside the years 1900 to 9999"));
    }
    Ok(v)
}

/// How many partitions the short ids are scattered into before interning: 256 tables of a
/// few thousand ids each stay in cache, where one table of two million ids costs a cache
/// miss per row (that was 52% of the time).
const PARTITIONS: usize = 256;

/// Mixes a packed id. Ids like `P0000001` differ only in their high bytes; the high bits of
/// the product depend on every input bit. The top 8 bits pick the partition, the next ones
/// the slot.
#[inline]
fn mix(k: u64) -> u64 {
    (k ^ (k >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline]
fn partition(k: u64) -> usize {
    (mix(k) >> 56) as usize
}

/// An open-addressing table from packed short ids (never 0: an id has at least one non-NUL
/// byte) to indices, with linear probing in one array at a load of at most one half.
struct ShortTable {
    slots: Vec<(u64, u32)>,
    shift: u32,
    len: u32,
}

impl ShortTable {
    fn with_capacity(n: usize) -> Self {
        let size = (n.max(8) * 2).next_power_of_two();
        Self {
            // Written, not allocated zeroed: see `ids::written_slots`.
            slots: crate::ids::written_slots(size, (0, 0)),
            shift: 64 - size.trailing_zeros(),
            len: 0,
        }
    }

    #[inline]
    fn intern(&mut self, k: u64) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = ((mix(k) << 8) >> self.shift) as usize;
        loop {
            let (sk, sv) = self.slots[i];
            if sk == k {
                return sv;
            }
            if sk == 0 {
                let v = self.len;
                self.slots[i] = (k, v);
                self.len += 1;
                if self.len as usize * 2 > self.slots.len() {
                    self.grow();
                }
                return v;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let len = self.len;
        *self = Self::with_capacity(old.len());
        for (k, v) in old.into_iter().filter(|s| s.0 != 0) {
            let mask = self.slots.len() - 1;
            let mut i = ((mix(k) << 8) >> self.shift) as usize;
            while self.slots[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, v);
        }
        self.len = len;
    }
}

/// Packs an id of up to 8 bytes without NUL exactly into a `u64`; `None` for other ids.
#[inline]
fn pack(id: &[u8]) -> Option<u64> {
    if id.len() <= 8 && !id.contains(&0) {
        let mut w = [0u8; 8];
        w[..id.len()].copy_from_slice(id);
        Some(u64::from_le_bytes(w))
    } else {
        None
    }
}

/// Bytes of `w` equal to `b` get their high bit set (the classic SWAR zero-byte test; it can
/// flag bytes above a true match, never below, so the lowest flag is exact).
#[inline]
fn flag_bytes(w: u64, b: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// The position of the next `,` or `\n` at or after `i`, or `s.len()`: eight bytes a step.
#[inline]
fn find_delim(s: &[u8], mut i: usize) -> usize {
    while let Some(bytes) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(bytes);
        let w = u64::from_le_bytes(w);
        let m = flag_bytes(w, b',') | flag_bytes(w, b'\n');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = s.get(i) {
        if b == b',' || b == b'\n' {
            return i;
        }
        i += 1;
    }
    s.len()
}

/// Where the bytes come from: a file, read with positioned reads so that two threads read
/// their halves at once without sharing a cursor, or stdin, already in memory.
pub(super) enum Source {
    File(std::fs::File),
    Memory(Vec<u8>),
}

/// The block each parser thread reads at a time: big enough to amortise the system call,
/// small enough to stay in cache while it is parsed, and reused, so that a 370 MB file costs
/// two 16 MB buffers instead of 370 MB of fresh pages.
const BLOCK: usize = 8 << 20;

impl Source {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Source::File(f) => Ok(f.metadata()?.len()),
            Source::Memory(v) => Ok(v.len() as u64),
        }
    }

    /// Fills `buf` from `offset`, or fails if the input ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        match self {
            Source::File(f) => {
                use std::os::unix::fs::FileExt;
                f.read_exact_at(buf, offset)
            }
            Source::Memory(v) => {
                let from = usize::try_from(offset).unwrap_or(usize::MAX);
                let src = from
                    .checked_add(buf.len())
                    .and_then(|to| v.get(from..to))
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// Up to `max` bytes from `offset` (fewer at the end of the input).
    fn read_some(&self, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
        let len = self.len()?;
        let n = usize::try_from(len.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(max);
        let mut buf = vec![0u8; n];
        self.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn read_all(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Source::File(_) => {
                let len = usize::try_from(self.len()?).unwrap_or(usize::MAX);
                self.read_some(0, len)
            }
            Source::Memory(v) => Ok(v.clone()),
        }
    }

    /// The offset of the first `\n` at or after `from`, if any.
    fn next_newline(&self, mut from: u64) -> std::io::Result<Option<u64>> {
        loop {
            let block = self.read_some(from, 64 * 1024)?;
            if block.is_empty() {
                return Ok(None);
            }
            if let Some(i) = block.iter().position(|&b| b == b'\n') {
                return Ok(Some(from + i as u64));
            }
            from += block.len() as u64;
        }
    }

    /// The 1-based line number of the byte at `offset`; used only to report an error.
    fn line_of(&self, offset: u64) -> usize {
        let mut lines = 1;
        let mut pos = 0;
        while pos < offset {
            let Ok(block) = self.read_some(pos, BLOCK) else {
                break;
            };
            if block.is_empty() {
                break;
            }
            let take = usize::try_from(offset - pos)
                .unwrap_or(usize::MAX)
                .min(block.len());
            lines += block[..take].iter().filter(|&&b| b == b'\n').count();
            pos += block.len() as u64;
        }
        lines
    }
}

/// One half of the body, parsed and scattered: short ids by partition, long ids aside.
struct Chunk {
    parts: Vec<Vec<(u64, i64)>>,
    long: Vec<(Box<[u8]>, i64)>,
}

enum ChunkError {
    /// A quote somewhere: the caller re-reads everything with the csv crate.
    Quoted,
    /// Bad input at an offset in the input.
    Bad(u64, String),
    /// The input could not be read.
    Io(String),
}

/// Parses whole lines (`block` starts at input offset `base`) into `out`.
fn parse_block(block: &[u8], base: u64, lay: Layout, out: &mut Chunk) -> Result<(), ChunkError> {
    if block.contains(&b'"') {
        return Err(ChunkError::Quoted);
    }
    if let Err(e) = std::str::from_utf8(block) {
        return Err(ChunkError::Bad(
            base + e.valid_up_to() as u64,
            "text is not UTF-8".into(),
        ));
    }
    let mut pos = 0;
    while pos < block.len() {
        let start = pos;
        let mut field = 0;
        let mut field_start = pos;
        let mut pid: &[u8] = &[];
        let mut ts: &[u8] = &[];
        let end;
        loop {
            let at = find_delim(block, field_start);
            if field == lay.patient {
                pid = &block[field_start..at];
            }
            if field == lay.timestamp {
                ts = &block[field_start..at];
            }
            field += 1;
            field_start = at + 1;
            if at >= block.len() || block[at] == b'\n' {
                end = at.min(block.len());
                break;
            }
        }
        pos = end + 1;
        let line = &block[start..end];
        if line.is_empty() || line == b"\r" {
            continue;
        }
        let bad = |reason: String| ChunkError::Bad(base + start as u64, reason);
        if field != lay.fields {
            return Err(bad(format!(
                "found {field} fields, the header has {}",
                lay.fields
            )));
        }
        let (pid, ts) = (strip_cr(pid), strip_cr(ts));
        if pid.is_empty() {
            return Err(bad("patient_id is empty".into()));
        }
        let t = parse_ts(ts).map_err(bad)?;
        match pack(pid) {
            Some(k) => out.parts[partition(k)].push((k, t)),
            None => out.long.push((pid.into(), t)),
        }
    }
    Ok(())
}

/// Reads and parses the input range `[start, end)`, which begins at a line start, block by
/// block; a line cut by a block boundary is carried into the next block.
fn parse_range(
    src: &Source,
    (start, end): (u64, u64),
    lay: Layout,
    rows_guess: usize,
    block: usize,
) -> Result<Chunk, ChunkError> {
    let per_part = rows_guess / PARTITIONS + rows_guess / PARTITIONS / 8 + 16;
    let mut out = Chunk {
        parts: (0..PARTITIONS)
            .map(|_| Vec::with_capacity(per_part))
            .collect(),
        long: Vec::new(),
    };
    let mut buf = vec![0u8; 2 * block];
    let mut carry = 0;
    let mut pos = start;
    while pos < end {
        let want = usize::try_from(end - pos).unwrap_or(usize::MAX).min(block);
        if carry + want > buf.len() {
            // A line longer than a block: make room for it.
            buf.resize(carry + want, 0);
        }
        src.read_exact_at(&mut buf[carry..carry + want], pos)
            .map_err(|e| ChunkError::Io(e.to_string()))?;
        let base = pos - carry as u64;
        pos += want as u64;
        let filled = carry + want;
        let upto = if pos >= end {
            filled
        } else {
            buf[..filled]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
        };
        parse_block(&buf[..upto], base, lay, &mut out)?;
        buf.copy_within(upto..filled, 0);
        carry = filled - upto;
    }
    Ok(out)
}

fn strip_cr(f: &[u8]) -> &[u8] {
    f.strip_suffix(b"\r").unwrap_or(f)
}

/// Interns partitions `range` of both halves into `patients`/`times` (exactly their rows
/// long), numbering the ids of these partitions densely from 0; returns how many ids.
fn intern_partitions(
    halves: [&Chunk; 2],
    range: std::ops::Range<usize>,
    patients: &mut [u32],
    times: &mut [i64],
) -> u32 {
    let mut base = 0;
    let mut at = 0;
    for p in range {
        let rows = halves[0].parts[p].len() + halves[1].parts[p].len();
        // Each id appears ~5 times in a typical export; the table grows if not.
        let mut table = ShortTable::with_capacity(rows / 4);
        for half in halves {
            for &(k, t) in &half.parts[p] {
                patients[at] = base + table.intern(k);
                times[at] = t;
                at += 1;
            }
        }
        base += table.len;
    }
    base
}

/// The fast path: two threads each read and parse half of the body, block by block,
/// scattering rows by a hash of the patient id; then two threads intern the partitions
/// (every id lives in exactly one partition, so no merge is needed), and partition-local ids
/// become dense global ones. `Ok(None)` when the input holds a quote.
fn load_fast(src: &Source) -> Result<Option<Rows>, Fail> {
    load_fast_in_blocks(src, BLOCK)
}

fn load_fast_in_blocks(src: &Source, block: usize) -> Result<Option<Rows>, Fail> {
    let total = src.len()?;
    let head = src.read_some(0, 64 * 1024)?;
    let bom = if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let header_end = src.next_newline(0)?.unwrap_or(total);
    let header = src.read_some(bom, usize::try_from(header_end - bom.min(header_end))?)?;
    if header.contains(&b'"') {
        return Ok(None);
    }
    let header = std::str::from_utf8(strip_cr(&header))
        .map_err(|_| Fail("line 1: text is not UTF-8".into()))?;
    let names: Vec<&str> = header.split(',').collect();
    let lay = layout(&names)?;
    let body_start = (header_end + 1).min(total);
    // Rows from the mean length of the first lines, to size the partitions once.
    let sample = head.get(usize::try_from(body_start)?..).unwrap_or(&[]);
    let lines = sample.iter().filter(|&&b| b == b'\n').count().max(1);
    let line_len = (sample.len() / lines).max(1) as u64;
    let mid = body_start + (total - body_start) / 2;
    let split = src.next_newline(mid)?.map_or(total, |n| n + 1);
    let guess = |len: u64| usize::try_from(len / line_len).unwrap_or(0);
    let (ra, rb) = std::thread::scope(|s| {
        let hb = s.spawn(|| parse_range(src, (split, total), lay, guess(total - split), block));
        let ra = parse_range(
            src,
            (body_start, split),
            lay,
            guess(split - body_start),
            block,
        );
        (ra, hb.join())
    });
    let rb = rb.map_err(|_| Fail("the parser thread failed".into()))?;
    let bad = |off: u64, reason: String| Fail(format!("line {}: {reason}", src.line_of(off)));
    let (ca, cb) = match (ra, rb) {
        (Err(ChunkError::Io(e)), _) | (_, Err(ChunkError::Io(e))) => return Err(Fail(e)),
        // The first half has no quote before a bad line it reports, so that line is bad
        // whatever follows. A quote anywhere else may hide a newline inside a field, which
        // makes the split (and the second half's lines) meaningless: re-read with csv.
        (Err(ChunkError::Bad(off, r)), _) => return Err(bad(off, r)),
        (Err(ChunkError::Quoted), _) | (_, Err(ChunkError::Quoted)) => return Ok(None),
        (_, Err(ChunkError::Bad(off, r))) => return Err(bad(off, r)),
        (Ok(a), Ok(b)) => (a, b),
    };
    let halves = [&ca, &cb];
    let part_rows: Vec<usize> = (0..PARTITIONS)
        .map(|p| ca.parts[p].len() + cb.parts[p].len())
        .collect();
    let short_rows: usize = part_rows.iter().sum();
    let total = short_rows + ca.long.len() + cb.long.len();
    let mut patients = vec![0u32; total];
    let mut times = vec![0i64; total];
    // Split the partitions where the rows are half done, so both threads get equal work.
    let mut cut = 0;
    let mut acc = 0;
    while cut < PARTITIONS && acc * 2 < short_rows {
        acc += part_rows[cut];
        cut += 1;
    }
    let (_, ids_b) = {
        let (pa, pb) = patients[..short_rows].split_at_mut(acc);
        let (ta, tb) = times[..short_rows].split_at_mut(acc);
        std::thread::scope(|s| {
            let hb = s.spawn(|| intern_partitions(halves, cut..PARTITIONS, pb, tb));
            let ca = intern_partitions(halves, 0..cut, pa, ta);
            hb.join().map(|cb| (ca, cb))
        })
        .map_err(|_| Fail("the interning thread failed".into()))?
    };
    // Long ids (more than 8 bytes) are rare: one ordinary map, numbered after the second
    // shard's short ids (a long id never equals a short one).
    let mut long: FxMap<&[u8], u32> = FxMap::default();
    for (slot, (id, t)) in ca.long.iter().chain(&cb.long).enumerate() {
        let next = ids_b + long.len() as u32;
        patients[short_rows + slot] = *long.entry(id).or_insert(next);
        times[short_rows + slot] = *t;
    }
    Ok(Some(Rows {
        patients,
        times,
        split: acc,
    }))
}

/// The general path through the csv crate: quoting, embedded newlines, everything RFC 4180.
fn load_csv(data: &[u8]) -> Result<Rows, Fail> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(data);
    let at = |pos: Option<&csv::Position>| pos.map_or(1, |p| p.line());
    let headers = rdr
        .byte_headers()
        .map_err(|e| Fail(format!("line 1: {e}")))?
        .clone();
    let names: Vec<&str> = headers
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|_| Fail("line 1: text is not UTF-8".into()))?;
    let lay = layout(&names)?;
    let mut ids: FxMap<String, u32> = FxMap::default();
    let mut rows = Rows::default();
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(Fail(format!("line {}: {e}", at(e.position())))),
        }
        let line = at(rec.position());
        if rec.iter().any(|f| std::str::from_utf8(f).is_err()) {
            return Err(Fail(format!("line {line}: text is not UTF-8")));
        }
        let pid = std::str::from_utf8(rec.get(lay.patient).unwrap_or(b"")).unwrap_or("");
        if pid.is_empty() {
            return Err(Fail(format!("line {line}: patient_id is empty")));
        }
        let t = parse_ts(rec.get(lay.timestamp).unwrap_or(b""))
            .map_err(|r| Fail(format!("line {line}: {r}")))?;
        let next = ids.len() as u32;
        let id = *ids.entry(pid.to_owned()).or_insert(next);
        rows.patients.push(id);
        rows.times.push(t);
    }
    rows.split = rows.patients.len();
    Ok(rows)
}

pub(super) fn load(src: &Source) -> Result<Rows, Fail> {
    if src.len()? == 0 {
        return Err(Fail(format!(
            "line 1: empty input, expected the header {}",
            super::HEADER
        )));
    }
    match load_fast(src)? {
        Some(rows) => Ok(rows),
        None => {
            let data = src.read_all()?;
            load_csv(data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&data))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinic_ops::calendar::{ClinicCalendar, Period};
    use clinic_ops::metrics::retention::{RetentionMatrix, RetentionSpec, retention_indexed};
    use proptest::prelude::*;

    /// Ids are assigned in different orders by the two paths, and the fast path numbers its
    /// two shards separately, so compare the retention matrices.
    fn matrix(r: &Rows) -> RetentionMatrix {
        let spec = RetentionSpec::new(Period::Day, 5).unwrap();
        let cal = ClinicCalendar::CHINA;
        let (pa, pb) = r.patients.split_at(r.split);
        let (ta, tb) = r.times.split_at(r.split);
        let mut m = retention_indexed(pa, ta, &spec, cal).unwrap();
        m.merge(&retention_indexed(pb, tb, &spec, cal).unwrap())
            .unwrap();
        m
    }

    /// Distinct patients over both shards.
    fn patients(r: &Rows) -> usize {
        let count = |p: &[u32]| {
            let mut p = p.to_vec();
            p.sort_unstable();
            p.dedup();
            p.len()
        };
        count(&r.patients[..r.split]) + count(&r.patients[r.split..])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The two-thread fast path and the csv crate read the same rows.
        #[test]
        fn fast_path_agrees_with_csv(
            rows in prop::collection::vec(("[a-zA-Z0-9]{1,12}", 0i64..3_000_000, "[a-z]{0,4}"), 0..300),
            crlf in any::<bool>(),
            block in 1usize..64,
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("event,patient_id,timestamp,channel{nl}");
            for (p, t, c) in &rows {
                text.push_str(&format!("x,{p},{},{c}{nl}", 1_767_196_800 + t));
            }
            let fast = load_fast(&Source::Memory(text.clone().into_bytes())).ok().flatten().unwrap();
            let slow = load_csv(text.as_bytes()).ok().unwrap();
            prop_assert_eq!(fast.patients.len(), rows.len());
            // Tiny blocks: lines cut at every boundary, and lines longer than a block.
            let tiny = load_fast_in_blocks(&Source::Memory(text.clone().into_bytes()), block)
                .ok()
                .flatten()
                .unwrap();
            prop_assert_eq!(matrix(&tiny), matrix(&fast));
            prop_assert_eq!(matrix(&fast), matrix(&slow));
            let mut ids: Vec<&str> = rows.iter().map(|(p, _, _)| p.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(patients(&fast), ids.len());
            prop_assert_eq!(patients(&slow), ids.len());
            // Each shard is numbered densely from 0.
            for shard in [&fast.patients[..fast.split], &fast.patients[fast.split..]] {
                let mut p = shard.to_vec();
                p.sort_unstable();
                p.dedup();
                prop_assert!(p.iter().enumerate().all(|(i, &x)| i as u32 == x));
            }
        }
    }

    #[test]
    fn ten_digit_fast_path_agrees() {
        for s in [
            "1767196800",
            "0000000000",
            "9999999999",
            "0123456789",
            "2534023007",
        ] {
            assert_eq!(ten_digits(s.as_bytes()), s.parse::<i64>().ok(), "{s}");
        }
        for s in [
            "176719680x",
            "17671968:0",
            "/767196800",
            "176719680",
            " 767196800",
        ] {
            assert_eq!(ten_digits(s.as_bytes()), None, "{s}");
        }
        assert!(parse_ts(b"9999999999").is_ok());
        assert!(parse_ts(b"1767196800 ").is_ok());
    }

    #[test]
    fn quotes_fall_back_and_bad_lines_are_numbered() {
        let quoted = b"patient_id,timestamp\n\"A\nB\",1767196800\nC,1767196800\n";
        let mem = |b: &[u8]| Source::Memory(b.to_vec());
        assert!(load_fast(&mem(quoted)).ok().unwrap().is_none());
        assert_eq!(load(&mem(quoted)).ok().unwrap().patients.len(), 2);
        let bad = b"patient_id,timestamp\nA,1\nB,x\n";
        let Err(Fail(msg)) = load(&mem(bad)) else {
            panic!()
        };
        assert_eq!(msg, "line 3: timestamp \"x\" is not whole Unix seconds");
        let Err(Fail(msg)) = load_fast_in_blocks(&mem(bad), 3) else {
            panic!()
        };
        assert_eq!(msg, "line 3: timestamp \"x\" is not whole Unix seconds");
        let Err(Fail(msg)) = load(&mem(b"patient_id,timestamp\nA,1\n\"B\",x\n")) else {
            panic!()
        };
        assert_eq!(msg, "line 3: timestamp \"x\" is not whole Unix seconds");
    }
}
