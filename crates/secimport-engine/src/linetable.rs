//! Line numbers from CPython 3.11's location table (`co_linetable`, PEP 626/657).
//!
//! The kernel side copies each reported frame's `co_linetable` bytes and the
//! index of its current instruction; the line is computed here, after the fact,
//! because the process may be dead by the time we read the event.
//!
//! Format: a sequence of entries. The first byte of each has its top bit set;
//! bits 3-6 are a code, bits 0-2 the number of code units covered minus one.
//! Code 15: no location; 14: long form (signed line delta, then end line, column,
//! end column as varints); 13: line delta only; 10-12: line delta `code - 10`
//! plus two column bytes; 0-9: same line, one column byte.

/// The source line of code unit `lasti`, if the table says.
pub fn line_for(linetable: &[u8], firstlineno: u32, lasti: u32) -> Option<u32> {
    let mut r = Reader {
        data: linetable,
        pos: 0,
    };
    let mut line = firstlineno as i64;
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
                line += r.svarint()?;
                r.varint()?;
                r.varint()?;
                r.varint()?;
                Some(line)
            }
            13 => {
                line += r.svarint()?;
                Some(line)
            }
            10..=12 => {
                line += (code - 10) as i64;
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
            return entry_line.and_then(|l| u32::try_from(l).ok());
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
    use super::line_for;

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        firstlineno: u32,
        linetable: String,
        lines: Vec<Option<u32>>,
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Ground truth from CPython 3.11's own `co_positions()`
    /// (scripts/gen-linetable-fixture.py).
    #[test]
    fn matches_cpython_positions() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../tests/fixtures/linetables-3.11.json")).unwrap();
        assert!(cases.len() >= 5);
        for c in &cases {
            let table = unhex(&c.linetable);
            for (i, want) in c.lines.iter().enumerate() {
                assert_eq!(
                    line_for(&table, c.firstlineno, i as u32),
                    *want,
                    "{} code unit {i}",
                    c.name
                );
            }
        }
    }

    #[test]
    fn cut_table_gives_none_past_its_end() {
        assert_eq!(line_for(&[], 10, 0), None);
        assert_eq!(line_for(&[0x00], 10, 0), None);
    }
}
