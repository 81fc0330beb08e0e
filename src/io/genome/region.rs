//! Genomic regions in their text form as samtools writes it (`chr20:1-1,000`, 1-based
//! inclusive): parsed by [`parse_region`] and checked against a genome by [`Genome::region`],
//! which gives an [`Interval`] (0-based half-open).

use super::Genome;
use crate::error::{Error, Result};
use crate::interval::Interval;

/// Parses a region as samtools writes it: `NAME:START-END`, 1-based and inclusive, commas
/// allowed in the numbers (`chr20:50,000,001-63,025,520`), or a bare `NAME` for a whole contig
/// (returned with no range). The result is 0-based half-open: `(name, Some((START - 1, END)))`.
/// The name is not checked here; [`Genome::region`] does that.
///
/// ```
/// use seqcnn::io::genome::region::parse_region;
/// assert_eq!(parse_region("chr20:1-1,000").unwrap(), ("chr20".to_string(), Some((0, 1000))));
/// assert_eq!(parse_region("20").unwrap(), ("20".to_string(), None));
/// assert!(parse_region("20:0-10").is_err()); // 1-based: positions start at 1
/// assert!(parse_region("20:10-5").is_err());
/// ```
pub fn parse_region(text: &str) -> Result<(String, Option<(u64, u64)>)> {
    let bad = |why: &str| {
        Error::Config(format!(
            "region '{text}': {why} (expected NAME or NAME:START-END, 1-based inclusive)"
        ))
    };
    let text_t = text.trim();
    if text_t.is_empty() {
        return Err(bad("empty"));
    }
    let Some((name, range)) = text_t.rsplit_once(':') else {
        return Ok((text_t.to_string(), None));
    };
    if name.is_empty() {
        return Err(bad("no contig name"));
    }
    let Some((a, b)) = range.split_once('-') else {
        return Err(bad("no '-' between START and END"));
    };
    let num = |s: &str| -> Result<u64> {
        let digits: String = s.chars().filter(|&c| c != ',').collect();
        digits
            .parse::<u64>()
            .map_err(|_| bad(&format!("'{s}' is not a position")))
    };
    let (start, end) = (num(a)?, num(b)?);
    if start == 0 {
        return Err(bad("positions are 1-based, START must be at least 1"));
    }
    if end < start {
        return Err(bad("END is before START"));
    }
    Ok((name.to_string(), Some((start - 1, end))))
}

impl Genome {
    /// Parses a region (see [`parse_region`]), resolves its contig and checks it lies inside the
    /// contig; a bare name is the whole contig (also when the name itself contains `:`).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let fa = dir.path().join("g.fa");
    /// std::fs::write(&fa, ">20\nACGTACGTAC\n").unwrap();
    /// seqcnn::io::genome::index::write_index(&fa, false).unwrap();
    /// let g = seqcnn::io::genome::Genome::open(&fa).unwrap();
    /// let r = g.region("chr20:3-6").unwrap();
    /// assert_eq!((r.contig.as_str(), r.start, r.end), ("20", 2, 6));
    /// assert_eq!(r.to_string(), "20:3-6");
    /// assert_eq!(g.region("chr20").unwrap().end, 10);
    /// assert!(g.region("20:5-11").is_err()); // past the end
    /// ```
    pub fn region(&self, text: &str) -> Result<Interval> {
        if let Some(i) = self.lookup(text.trim()) {
            let (contig, len) = &self.contigs[i];
            return Ok(Interval {
                contig: contig.clone(),
                start: 0,
                end: *len,
            });
        }
        let (name, range) = parse_region(text)?;
        let i = self.contig_id(&name).map_err(Error::Config)?;
        let (contig, len) = &self.contigs[i];
        let (start, end) = range.unwrap_or((0, *len));
        if end > *len {
            return Err(Error::Config(format!(
                "region '{text}' ends at {end}, past the end of contig '{contig}' ({len} bp)"
            )));
        }
        Ok(Interval {
            contig: contig.clone(),
            start,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::genome;
    use super::*;

    #[test]
    fn regions_parse_and_check() {
        assert_eq!(
            parse_region("chr20:50,000,001-63,025,520").unwrap(),
            ("chr20".to_string(), Some((50_000_000, 63_025_520)))
        );
        for bad in ["", ":1-2", "20:1", "20:a-5", "20:5-", "20:0-3"] {
            assert!(parse_region(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let g = genome(dir.path(), "g.fa", ">HLA-A*01:01\nACGT\n>20\nACGTACGT\n");
        assert_eq!(g.region("HLA-A*01:01").unwrap().len(), 4);
        assert_eq!(g.region("HLA-A*01:01:2-3").unwrap().start, 1);
        let e = g.region("chr21:1-5").unwrap_err().to_string();
        assert!(e.contains("unknown contig 'chr21'"), "{e}");
    }
}
