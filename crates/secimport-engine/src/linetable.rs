//! Source lines from CPython's line tables, in the three formats it has used.
//!
//! The kernel side copies each reported frame's line table (its first
//! `LINETABLE_MAX` bytes, saying whether that is the whole table), its code's
//! `co_firstlineno` and its current instruction `lasti`; the line is computed
//! here, after the fact, because the process may be dead by the time we read
//! the event.
//!
//! - [`LineFormat::Lnotab`], CPython 3.8 and 3.9 (`co_lnotab`): pairs of bytes,
//!   an address increment (unsigned, in bytes) and a line increment (signed).
//!   The increments of every pair whose address is at most the instruction's
//!   byte offset are summed onto `co_firstlineno`; the last line holds to the
//!   end of the code. Steps too large for a byte are split over several pairs,
//!   some with an address increment of 0. `lasti` is `f_lasti`, a byte offset.
//! - [`LineFormat::Linetable310`], CPython 3.10 (`co_linetable`, PEP 626):
//!   pairs of bytes, a range length (unsigned, in bytes) and a line delta
//!   (signed) for that range, -128 meaning "no line number" (and no change to
//!   the running line). Ranges follow each other from offset 0; a range of
//!   length 0 covers nothing but its delta still counts. `lasti` is `f_lasti`,
//!   an index in 2-byte instructions.
//! - [`LineFormat::Locations`], CPython 3.11+ (`co_linetable`, PEP 657):
//!   entries whose first byte has its top bit set; bits 3-6 are a code, bits
//!   0-2 the number of code units covered minus one. Code 15: no location; 14:
//!   long form (signed line delta, then end line, column, end column as
//!   varints); 13: line delta only; 10-12: line delta `code - 10` plus two
//!   column bytes; 0-9: same line, one column byte. `lasti` is the index of the
//!   current code unit (2 bytes).
//!
//! A cut table never gives a wrong line: in the range formats an instruction
//! gets a line only once the whole entry covering it has been read, and a
//! `co_lnotab` says nothing about the code after its last pair unless it is
//! whole. A whole empty `co_lnotab` puts all the code on its first line (a
//! one-line `eval`, a lambda, a 3.9 comprehension); an empty table in the
//! other formats gives no line.

/// How a code object's line table is laid out, by CPython version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// 3.8, 3.9: `co_lnotab`; `lasti` is a byte offset.
    Lnotab,
    /// 3.10: `co_linetable` (PEP 626); `lasti` counts 2-byte instructions.
    Linetable310,
    /// 3.11+: the location table (PEP 657); `lasti` counts 2-byte code units.
    Locations,
}

/// The source line of the instruction at `lasti` (in the unit of `format`,
/// as the kernel read it; negative: not started or unknown), if the table
/// says. `whole`: `table` is the code's whole line table, not its start.
pub fn line_at(
    format: LineFormat,
    table: &[u8],
    whole: bool,
    firstlineno: u32,
    lasti: i32,
) -> Option<u32> {
    let lasti = u32::try_from(lasti).ok()?;
    match format {
        LineFormat::Lnotab => lnotab_line(table, whole, firstlineno, u64::from(lasti)),
        LineFormat::Linetable310 => linetable310_line(table, firstlineno, 2 * u64::from(lasti)),
        LineFormat::Locations => line_for(table, firstlineno, lasti),
    }
}

/// A `co_lnotab` (3.8, 3.9): the line of byte offset `addr`.
fn lnotab_line(table: &[u8], whole: bool, firstlineno: u32, addr: u64) -> Option<u32> {
    let pairs = table.chunks_exact(2);
    // A table ending in half a pair is not whole, whatever it says.
    let whole = whole && pairs.remainder().is_empty();
    let mut line = i64::from(firstlineno);
    let mut start = 0u64;
    for pair in pairs {
        start += u64::from(pair[0]);
        if start > addr {
            // A pair beyond `addr`: every pair at or before it was read.
            return to_line(line);
        }
        line += i64::from(pair[1] as i8);
    }
    // `addr` is at or after the last pair's address: its line is the last
    // one only if no pair (say the rest of a split line step) was cut off.
    if whole {
        to_line(line)
    } else {
        None
    }
}

/// A 3.10 `co_linetable`: the line of byte offset `addr`.
fn linetable310_line(table: &[u8], firstlineno: u32, addr: u64) -> Option<u32> {
    const NO_LINE: i8 = -128;
    let mut line = i64::from(firstlineno);
    let mut end = 0u64;
    for pair in table.chunks_exact(2) {
        end += u64::from(pair[0]);
        let delta = pair[1] as i8;
        let range_line = if delta == NO_LINE {
            None // and the running line stays
        } else {
            line += i64::from(delta);
            Some(line)
        };
        // Earlier ranges ended at or before `addr`, so this one starts at or
        // before it; a range of length 0 never contains it.
        if addr < end {
            return range_line.and_then(to_line);
        }
    }
    None
}

fn to_line(line: i64) -> Option<u32> {
    u32::try_from(line).ok()
}

/// The source line of code unit `lasti` in a 3.11+ location table
/// ([`LineFormat::Locations`]), if the table says.
pub fn line_for(linetable: &[u8], firstlineno: u32, lasti: u32) -> Option<u32> {
    let mut r = Reader {
        data: linetable,
        pos: 0,
    };
    let mut line = i64::from(firstlineno);
    let mut addr: u32 = 0;
    while let Some(first) = r.byte() {
        if first & 0x80 == 0 {
            return None; // not at an entry start: corrupt or cut table
        }
        let code = (first >> 3) & 0x0f;
        let len = (first & 0x07) as u32 + 1;
        let entry_line = match code {
            15 => None,
            14 => {
                line = line.checked_add(r.svarint()?)?;
                r.varint()?;
                r.varint()?;
                r.varint()?;
                Some(line)
            }
            13 => {
                line = line.checked_add(r.svarint()?)?;
                Some(line)
            }
            10..=12 => {
                line = line.checked_add(i64::from(code - 10))?;
                r.byte()?;
                r.byte()?;
                Some(line)
            }
            _ => {
                r.byte()?;
                Some(line)
            }
        };
        if lasti < addr + len {
            return entry_line.and_then(to_line);
        }
        addr += len;
    }
    None
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            value |= ((b & 0x3f) as u64) << shift;
            if b & 0x40 == 0 {
                return Some(value);
            }
            shift += 6;
            if shift > 60 {
                return None;
            }
        }
    }

    fn svarint(&mut self) -> Option<i64> {
        let u = self.varint()?;
        Some(if u & 1 == 1 {
            -((u >> 1) as i64)
        } else {
            (u >> 1) as i64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{line_at, line_for, LineFormat};

    /// The kernel's copy of a table: at most this many bytes
    /// (`LINETABLE_MAX`, the size of a reported frame's buffer).
    fn cap() -> usize {
        crate::skel::types::si_frame_info::default().linetable.len()
    }

    /// One code object of a fixture written by scripts/gen-linetable-fixture.py.
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        firstlineno: u32,
        linetable: String,
        /// The line CPython reports for each code unit (2-byte word).
        lines: Vec<Option<u32>>,
    }

    struct Fixture {
        version: &'static str,
        format: LineFormat,
        cases: Vec<Case>,
    }

    impl Fixture {
        /// The kernel's `lasti` for code unit `unit`.
        fn lasti(&self, unit: usize) -> i32 {
            let unit = i32::try_from(unit).unwrap();
            match self.format {
                LineFormat::Lnotab => 2 * unit,
                LineFormat::Linetable310 | LineFormat::Locations => unit,
            }
        }
    }

    fn fixtures() -> Vec<Fixture> {
        let load = |version, format, json: &str| Fixture {
            version,
            format,
            cases: serde_json::from_str(json).unwrap(),
        };
        vec![
            load(
                "3.8",
                LineFormat::Lnotab,
                include_str!("../tests/fixtures/linetables-3.8.json"),
            ),
            load(
                "3.9",
                LineFormat::Lnotab,
                include_str!("../tests/fixtures/linetables-3.9.json"),
            ),
            load(
                "3.10",
                LineFormat::Linetable310,
                include_str!("../tests/fixtures/linetables-3.10.json"),
            ),
            load(
                "3.11",
                LineFormat::Locations,
                include_str!("../tests/fixtures/linetables-3.11.json"),
            ),
        ]
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Every instruction's line is the one CPython itself reports.
    #[test]
    fn matches_cpython() {
        for f in fixtures() {
            assert!(f.cases.len() >= 15, "{}", f.version);
            for c in &f.cases {
                let table = unhex(&c.linetable);
                for (unit, want) in c.lines.iter().enumerate() {
                    let got = line_at(f.format, &table, true, c.firstlineno, f.lasti(unit));
                    assert_eq!(got, *want, "{} {} code unit {unit}", f.version, c.name);
                }
            }
        }
    }

    /// `line_for` is the location-table case, in code units.
    #[test]
    fn line_for_reads_locations() {
        let f = fixtures().pop().unwrap();
        assert_eq!(f.format, LineFormat::Locations);
        for c in &f.cases {
            let table = unhex(&c.linetable);
            for (unit, want) in c.lines.iter().enumerate() {
                assert_eq!(
                    line_for(&table, c.firstlineno, unit as u32),
                    *want,
                    "{} code unit {unit}",
                    c.name
                );
            }
        }
    }

    /// A table cut where the kernel cuts it, or anywhere, gives the right
    /// line or none.
    #[test]
    fn cut_tables_never_give_a_wrong_line() {
        for f in fixtures() {
            let mut cut_at_cap = false;
            for c in &f.cases {
                let table = unhex(&c.linetable);
                let mut cuts: Vec<usize> =
                    (0..table.len()).step_by(1 + table.len() / 100).collect();
                if table.len() > cap() {
                    cuts.push(cap());
                    cut_at_cap = true;
                }
                for cut in cuts {
                    let (mut known, mut unknown) = (0, 0);
                    for (unit, want) in c.lines.iter().enumerate() {
                        let lasti = f.lasti(unit);
                        match line_at(f.format, &table[..cut], false, c.firstlineno, lasti) {
                            Some(line) => {
                                assert_eq!(Some(line), *want, "{} {} cut {cut}", f.version, c.name);
                                known += 1;
                            }
                            None => unknown += 1,
                        }
                    }
                    if cut == cap() {
                        assert!(known > 0 && unknown > 0, "{} {}", f.version, c.name);
                    }
                }
            }
            assert!(cut_at_cap, "{}: no table longer than the cap", f.version);
        }
    }

    /// Past its last pair, a cut co_lnotab gives no line, a whole one the
    /// last line; a whole empty one puts everything on the first line.
    #[test]
    fn lnotab_tail_needs_a_whole_table() {
        let table = [2, 1, 2, 1];
        let at = |whole, lasti| line_at(LineFormat::Lnotab, &table, whole, 10, lasti);
        assert_eq!(at(true, 0), Some(10));
        assert_eq!(at(true, 2), Some(11));
        assert_eq!(at(true, 8), Some(12));
        assert_eq!(at(false, 2), Some(11));
        assert_eq!(at(false, 8), None);
        // An odd length is a cut pair.
        assert_eq!(line_at(LineFormat::Lnotab, &[2, 1, 2], true, 10, 8), None);
        assert_eq!(line_at(LineFormat::Lnotab, &[], true, 10, 40), Some(10));
        assert_eq!(line_at(LineFormat::Lnotab, &[], false, 10, 40), None);
    }

    /// 3.10: a range of length 0 moves the line; -128 is a range with none.
    #[test]
    fn linetable310_empty_and_lineless_ranges() {
        // bytes 0-3: line 11; 4-5: none; a 0-length +127; 6-7: 11 + 127 + 73.
        let table = [4, 1, 2, 0x80, 0, 127, 2, 73];
        let at = |lasti| line_at(LineFormat::Linetable310, &table, true, 10, lasti);
        assert_eq!(at(0), Some(11));
        assert_eq!(at(1), Some(11));
        assert_eq!(at(2), None);
        assert_eq!(at(3), Some(211));
        assert_eq!(at(4), None);
    }

    #[test]
    fn negative_lasti_gives_none() {
        for f in fixtures() {
            let c = &f.cases[1];
            let table = unhex(&c.linetable);
            assert!(line_at(f.format, &table, true, c.firstlineno, 0).is_some());
            assert_eq!(line_at(f.format, &table, true, c.firstlineno, -1), None);
            assert_eq!(
                line_at(f.format, &table, true, c.firstlineno, i32::MIN),
                None
            );
        }
    }

    /// Empty range tables say nothing (an empty co_lnotab: above).
    #[test]
    fn empty_table_gives_none() {
        for format in [LineFormat::Linetable310, LineFormat::Locations] {
            for whole in [true, false] {
                assert_eq!(line_at(format, &[], whole, 10, 0), None);
                assert_eq!(line_at(format, &[], whole, 10, i32::MAX), None);
            }
        }
        assert_eq!(line_for(&[], 10, 0), None);
        assert_eq!(line_for(&[0x00], 10, 0), None);
    }
}
