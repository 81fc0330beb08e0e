//! Reading only some regions of a bgzipped VCF through its tabix (`.tbi`) or CSI (`.csi`) index:
//! the index gives the BGZF chunks that can hold records of a region, and only those are read
//! and decompressed, so a region of a whole-genome callset costs what its records cost, not a pass
//! over the file. Records are those whose REF overlaps the region (POS to POS + len(REF) - 1),
//! as `bcftools view -r` and `tabix` select them; the regions are read in the order given.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use noodles_bgzf as bgzf;
use noodles_csi::BinningIndex;
use noodles_csi::binning_index::index::reference_sequence::bin::Chunk;

use super::genome::names::contig_key;
use super::genome::region::parse_region;
use super::input::{input_name, open_file};
use super::vcf::{VcfHeader, VcfReader, VcfRecord, parse_record};
use crate::error::{Error, Result};

/// A region to read: the contig as the user wrote it and 1-based inclusive bounds (`end` `None`:
/// to the contig's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcfRegion {
    pub contig: String,
    pub start: u64,
    pub end: Option<u64>,
    /// The region as given, for messages.
    pub text: String,
}

impl VcfRegion {
    /// Parses `NAME` or `NAME:START-END` (1-based inclusive, commas allowed), as samtools and
    /// bcftools write regions.
    ///
    /// ```
    /// use seqcnn::io::vcf_region::VcfRegion;
    /// let r = VcfRegion::parse("20:30,000,000-31000000").unwrap();
    /// assert_eq!((r.contig.as_str(), r.start, r.end), ("20", 30_000_000, Some(31_000_000)));
    /// assert_eq!(VcfRegion::parse("chrX").unwrap().end, None);
    /// assert!(VcfRegion::parse("20:5-1").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<VcfRegion> {
        let (contig, range) = parse_region(text)?;
        let (start, end) = match range {
            Some((a, b)) => (a + 1, Some(b)),
            None => (1, None),
        };
        Ok(VcfRegion {
            contig,
            start,
            end,
            text: text.trim().to_string(),
        })
    }

    /// Whether a record with REF of `ref_len` bases at `pos` overlaps the region.
    fn overlaps(&self, pos: u64, ref_len: usize) -> bool {
        let last = pos + (ref_len.max(1) as u64) - 1;
        last >= self.start && self.end.is_none_or(|e| pos <= e)
    }
}

/// The index of a bgzipped VCF, tabix or CSI.
enum Index {
    Tabix(noodles_tabix::Index),
    Csi(noodles_csi::Index),
}

impl Index {
    fn binning(&self) -> &dyn BinningIndex {
        match self {
            Index::Tabix(i) => i,
            Index::Csi(i) => i,
        }
    }
}

/// The records of some regions of an indexed, bgzipped VCF, region by region, each region's in
/// file order. After the first error it yields nothing more.
pub struct RegionReader {
    path: PathBuf,
    header: VcfHeader,
    reader: bgzf::io::Reader<BufReader<File>>,
    index: Index,
    regions: Vec<VcfRegion>,
    /// The region being read (index into `regions`) and its chunks left, in order.
    current: usize,
    chunks: std::vec::IntoIter<Chunk>,
    /// The end of the chunk being read.
    chunk_end: Option<bgzf::VirtualPosition>,
    /// Regions on contigs the index lacks but the genome has: no records.
    empty: Vec<usize>,
    /// Select records by POS alone (see [`RegionReader::by_position`]).
    by_position: bool,
    buf: Vec<u8>,
    done: bool,
}

impl RegionReader {
    /// Opens `path` (a bgzipped VCF with `path.tbi` or `path.csi` beside it) for `regions`. The
    /// header is read from the start of the file. Errors say how to make what is missing: a
    /// plain or gzip (not BGZF) file, no index, regions that overlap, a contig the index does
    /// not know (matched with or without `chr`). A contig without records is absent from the
    /// index: its regions are simply empty when the header declares it or `known` (the genome)
    /// has it.
    pub fn open(
        path: &Path,
        regions: Vec<VcfRegion>,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<RegionReader> {
        let name = input_name(path);
        if path.as_os_str() == "-" {
            return Err(Error::Config(
                "--region reads a bgzipped, indexed VCF file, not standard input".into(),
            ));
        }
        let header = VcfReader::from_path(path)?.header().clone();
        let mut raw = open_file(path)?;
        let mut magic = [0u8; 4];
        let bgzf_file = std::io::Read::read_exact(&mut raw, &mut magic).is_ok()
            && magic == [0x1f, 0x8b, 0x08, 0x04];
        if !bgzf_file {
            return Err(Error::parse(
                &name,
                0,
                format!(
                    "--region needs a bgzipped (BGZF) VCF with a tabix or CSI index; make them with `bgzip {0}` (or `bgzip -c {0} > {0}.gz` if gzip-compressed: `zcat {0} | bgzip > NEW.vcf.gz`) and `tabix -p vcf FILE.vcf.gz`",
                    path.display()
                ),
            ));
        }
        let index = open_index(path)?;
        let mut sorted: Vec<&VcfRegion> = regions.iter().collect();
        sorted.sort_by(|a, b| {
            (contig_key(&a.contig), a.start).cmp(&(contig_key(&b.contig), b.start))
        });
        for w in sorted.windows(2) {
            let (a, b) = (w[0], w[1]);
            if contig_key(&a.contig) == contig_key(&b.contig) && a.end.is_none_or(|e| e >= b.start)
            {
                return Err(Error::Config(format!(
                    "regions {} and {} overlap: records in both would be scored twice; merge them into one region",
                    a.text, b.text
                )));
            }
        }
        let file = open_file(path)?;
        let mut r = RegionReader {
            path: name,
            header,
            reader: bgzf::io::Reader::new(BufReader::new(file)),
            index,
            regions,
            current: 0,
            chunks: Vec::new().into_iter(),
            chunk_end: None,
            empty: Vec::new(),
            by_position: false,
            buf: Vec::new(),
            done: false,
        };
        // Check every contig up front, so a typo fails before any work.
        for i in 0..r.regions.len() {
            if let Err(e) = r.chunks_of(i) {
                if !(r.missing_contig(i) && known(&r.regions[i].contig)) {
                    return Err(e);
                }
                r.empty.push(i);
            }
        }
        r.start_region()?;
        Ok(r)
    }

    /// Selects a record when its POS lies in a region, instead of when its REF overlaps it: the
    /// parts of a split of the genome into adjacent regions then partition the records (a
    /// deletion across a boundary belongs to the region where it starts, not to both).
    pub fn by_position(mut self) -> Self {
        self.by_position = true;
        self
    }

    /// The header read on opening.
    pub fn header(&self) -> &VcfHeader {
        &self.header
    }

    /// The name errors give for this input.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chunks that can hold records of region `i`.
    fn chunks_of(&self, i: usize) -> Result<Vec<Chunk>> {
        let region = &self.regions[i];
        let index = self.index.binning();
        let names = index
            .header()
            .map(|h| h.reference_sequence_names())
            .ok_or_else(|| {
                Error::parse(
                    &self.path,
                    0,
                    "the index has no contig names (not a tabix-style index of a VCF); rebuild it with `tabix -p vcf`",
                )
            })?;
        let find = |pred: &dyn Fn(&str) -> bool| {
            names
                .iter()
                .position(|n| std::str::from_utf8(n.as_slice()).is_ok_and(pred))
        };
        let id = find(&|n| n == region.contig)
            .or_else(|| find(&|n| contig_key(n) == contig_key(&region.contig)));
        let Some(id) = id else {
            // A contig the header declares but without records has no entry in the index.
            let declared = self.header.meta.iter().any(|m| {
                m.strip_prefix("##contig=<ID=")
                    .and_then(|rest| rest.split([',', '>']).next())
                    .is_some_and(|c| contig_key(c) == contig_key(&region.contig))
            });
            if declared {
                return Ok(Vec::new());
            }
            let known: Vec<String> = names
                .iter()
                .take(10)
                .map(|n| String::from_utf8_lossy(n.as_slice()).into_owned())
                .collect();
            return Err(Error::Config(format!(
                "region {}: contig '{}' is not in the index of {} (it has {}{}); contig names match with or without `chr`",
                region.text,
                region.contig,
                self.path.display(),
                known.join(", "),
                if names.len() > 10 { ", ..." } else { "" }
            )));
        };
        let position = |p: u64| {
            noodles_core::Position::try_from(p as usize).map_err(|_| {
                Error::Config(format!("region {}: position {p} out of range", region.text))
            })
        };
        let start = position(region.start)?;
        let interval: noodles_core::region::Interval = match region.end {
            Some(e) => (start..=position(e)?).into(),
            None => (start..).into(),
        };
        index
            .query(id, interval)
            .map_err(|e| Error::parse(&self.path, 0, format!("region {}: {e}", region.text)))
    }

    /// Whether region `i`'s contig is missing from the index's names.
    fn missing_contig(&self, i: usize) -> bool {
        let want = contig_key(&self.regions[i].contig);
        self.index.binning().header().is_some_and(|h| {
            !h.reference_sequence_names()
                .iter()
                .any(|n| std::str::from_utf8(n.as_slice()).is_ok_and(|n| contig_key(n) == want))
        })
    }

    /// Loads the chunks of the current region.
    fn start_region(&mut self) -> Result<()> {
        self.chunk_end = None;
        self.chunks = if self.empty.contains(&self.current) {
            Vec::new().into_iter()
        } else if self.current < self.regions.len() {
            self.chunks_of(self.current)?.into_iter()
        } else {
            Vec::new().into_iter()
        };
        Ok(())
    }

    /// The next data line of the current region's chunks, or `None` when they are read.
    fn next_line(&mut self) -> Result<Option<String>> {
        loop {
            match self.chunk_end {
                Some(end) if self.reader.virtual_position() < end => {}
                _ => {
                    let Some(chunk) = self.chunks.next() else {
                        return Ok(None);
                    };
                    self.reader
                        .seek(chunk.start())
                        .map_err(|e| Error::io(&self.path, e))?;
                    self.chunk_end = Some(chunk.end());
                }
            }
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                self.chunk_end = None;
                continue;
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.is_empty() || self.buf[0] == b'#' {
                continue;
            }
            return match std::str::from_utf8(&self.buf) {
                Ok(s) => Ok(Some(s.to_string())),
                Err(_) => Err(Error::parse(
                    &self.path,
                    0,
                    "a record that is not UTF-8 text",
                )),
            };
        }
    }

    fn next_record(&mut self) -> Result<Option<VcfRecord>> {
        while self.current < self.regions.len() {
            let Some(text) = self.next_line()? else {
                self.current += 1;
                self.start_region()?;
                continue;
            };
            let rec = parse_record(&text, 0).map_err(|msg| {
                let at: String = text.split('\t').take(2).collect::<Vec<_>>().join(":");
                Error::parse(&self.path, 0, format!("record at {at}: {msg}"))
            })?;
            let region = &self.regions[self.current];
            if contig_key(&rec.chrom) != contig_key(&region.contig) {
                continue;
            }
            if region.end.is_some_and(|e| rec.pos > e) {
                // Records are sorted: the rest of the region's chunks lie past it.
                self.chunks = Vec::new().into_iter();
                self.chunk_end = None;
                continue;
            }
            let len = if self.by_position {
                1
            } else {
                rec.reference.len()
            };
            if region.overlaps(rec.pos, len) {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }
}

impl Iterator for RegionReader {
    type Item = Result<VcfRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The index beside `path`: `path.tbi`, else `path.csi`.
fn open_index(path: &Path) -> Result<Index> {
    let with = |ext: &str| beside(path, ext);
    let (tbi, csi) = (with(".tbi"), with(".csi"));
    if tbi.exists() {
        open_file(&tbi)?;
        return noodles_tabix::fs::read(&tbi)
            .map(Index::Tabix)
            .map_err(|e| Error::parse(&tbi, 0, format!("not a tabix index: {e}")));
    }
    if csi.exists() {
        open_file(&csi)?;
        return noodles_csi::fs::read(&csi)
            .map(Index::Csi)
            .map_err(|e| Error::parse(&csi, 0, format!("not a CSI index: {e}")));
    }
    Err(Error::parse(
        path,
        0,
        format!(
            "--region needs an index beside the VCF ({} or {}); make one with `tabix -p vcf {}` (or `bcftools index -t`)",
            tbi.display(),
            csi.display(),
            path.display()
        ),
    ))
}

/// Writes the tabix index of a bgzipped, sorted VCF beside it (`path.tbi`, or `path.csi` when a
/// contig is longer than tabix allows), as `tabix -p vcf` does; an existing index is kept unless
/// `force`. Returns the index path and whether it was written. The index is written whole or
/// not at all.
pub fn write_vcf_index(path: &Path, force: bool) -> Result<(PathBuf, bool)> {
    let with = |ext: &str| beside(path, ext);
    for existing in [with(".tbi"), with(".csi")] {
        if existing.exists() && !force {
            return Ok((existing, false));
        }
    }
    let mut raw = open_file(path)?;
    let mut magic = [0u8; 4];
    if std::io::Read::read_exact(&mut raw, &mut magic).is_err() || magic != [0x1f, 0x8b, 0x08, 0x04]
    {
        return Err(Error::parse(
            path,
            0,
            format!(
                "only a bgzipped (BGZF) VCF can be indexed; compress it with `bgzip {}` (records sorted by contig and position)",
                path.display()
            ),
        ));
    }
    let index = noodles_vcf::fs::index(path).map_err(|e| {
        Error::parse(
            path,
            0,
            format!(
                "cannot index: {e} (records must be sorted by contig, each contig's together, and position: `bcftools sort`)"
            ),
        )
    })?;
    let (out, bytes) = match index {
        noodles_vcf::Index::Tabix(i) => {
            let mut w = noodles_tabix::io::Writer::new(Vec::new());
            w.write_index(&i).map_err(|e| Error::io(with(".tbi"), e))?;
            let bytes = w
                .into_inner()
                .finish()
                .map_err(|e| Error::io(with(".tbi"), e))?;
            (with(".tbi"), bytes)
        }
        noodles_vcf::Index::Csi(i) => {
            let mut w = noodles_csi::io::Writer::new(Vec::new());
            w.write_index(&i).map_err(|e| Error::io(with(".csi"), e))?;
            let bytes = w
                .into_inner()
                .finish()
                .map_err(|e| Error::io(with(".csi"), e))?;
            (with(".csi"), bytes)
        }
    };
    let mut o = crate::io::output::AtomicOutput::create(&out)?;
    std::io::Write::write_all(&mut o, &bytes).map_err(|e| o.error(e))?;
    o.commit()?;
    Ok((out, true))
}

/// Whether `path` holds a VCF (its first line, decompressed, starts `##fileformat=VCF`).
pub fn is_vcf(path: &Path) -> bool {
    let Ok(mut r) = super::input::open_input(path) else {
        return false;
    };
    let mut first = String::new();
    r.read_line(&mut first).is_ok() && first.starts_with("##fileformat=VCF")
}

/// `path` with `ext` appended (`calls.vcf.gz` + `.tbi`): where an index lives beside its file.
fn beside(path: &Path, ext: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}
