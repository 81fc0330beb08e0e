//! [`Interval`]: the one type for a stretch of a contig, 0-based and half-open as in BED.
//!
//! Every coordinate that comes in is converted to it by its parser: a BED line's columns are
//! already 0-based half-open and are kept as they are ([`crate::io::bed::BedRecord`] holds its
//! interval beside the other columns); a region's text form (`chr20:1-1,000`, 1-based inclusive
//! as samtools writes it) is converted by [`crate::io::genome::region::parse_region`] and checked
//! against a genome by `Genome::region`. Only messages and the region text form are 1-based.

use std::fmt;

/// The largest coordinate the parsers accept (a BED start or end, a VCF POS): 2^62. The longest
/// known genomes are near 1.5e11 bases; the bound keeps the arithmetic done on positions (signed
/// windows around a centre, 1-based display) from overflowing.
pub const MAX_POSITION: u64 = 1 << 62;

/// The 0-based offset, in a window of `len` bases centred on a base, of that base: the middle
/// one when `len` is odd, the left of the two middle ones when it is even. Selene (and ExPecto,
/// which it follows) centre a variant's window this way: a 1000-bp window holds the centre base
/// at offset 499, a 101-bp window at offset 50. Variant windows, `predict --genome` and `mutate
/// --genome` windows around an interval's centre or summit all place their centre with this.
///
/// ```
/// use seqcnn::interval::centre_offset;
/// assert_eq!((centre_offset(1000), centre_offset(101), centre_offset(4)), (499, 50, 1));
/// assert_eq!((centre_offset(1), centre_offset(0)), (0, 0));
/// ```
pub fn centre_offset(len: usize) -> usize {
    len.saturating_sub(1) / 2
}

/// A stretch of one contig: bases `start..end`, 0-based half-open.
///
/// ```
/// use seqcnn::interval::Interval;
/// let iv = Interval::new("20", 0, 1000);
/// assert_eq!((iv.len(), iv.is_empty()), (1000, false));
/// assert_eq!(iv.to_string(), "20:1-1000"); // the samtools form, 1-based inclusive
/// assert!(Interval::new("20", 7, 7).is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Interval {
    /// The contig: as written in the input, or the genome's name once checked against a genome.
    pub contig: String,
    /// First base, 0-based.
    pub start: u64,
    /// One past the last base.
    pub end: u64,
}

impl Interval {
    /// The interval `start..end` of `contig`.
    pub fn new(contig: impl Into<String>, start: u64, end: u64) -> Self {
        Interval {
            contig: contig.into(),
            start,
            end,
        }
    }

    /// Length in bases.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True when the interval holds no base (`start == end`, allowed by BED).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl fmt::Display for Interval {
    /// The samtools form, 1-based inclusive: `20:1-1000` for the first 1000 bases.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}-{}", self.contig, self.start + 1, self.end)
    }
}

impl AsRef<Interval> for Interval {
    fn as_ref(&self) -> &Interval {
        self
    }
}
