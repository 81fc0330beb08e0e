//! `seqcnn models`: find DeepBind models by protein or ID, in DeepBind's index (`db.tsv`) or in a
//! directory of imported models, like `deepbind --dump-info`.

use anyhow::Result;
use clap::Subcommand;
use seqcnn::deepbind::{INDEX_FIELDS, Index, IndexEntry};
use seqcnn::model::Model;
use seqcnn::model::Scoring;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum Models {
    /// One row per matching model: ID, protein, type, species, family, class, experiment,
    /// details (and file, with --dir).
    ///
    /// A query matches a model whose ID starts with it (D00328 matches D00328.001 and
    /// D00328.003) or whose protein it names (case-insensitive); a query that is a file holds
    /// IDs, one per line (like deepbind's example.ids). No query lists every model. Models the
    /// index marks deprecated are left out unless --all or asked for by full ID.
    #[command(after_help = "Examples:\n  \
        seqcnn models list --index deepbind/db.tsv CTCF\n  \
        seqcnn models list --dir models/ --index deepbind/db.tsv GATA3 D00210\n  \
        seqcnn models list --index deepbind/db.tsv example.ids")]
    List(Query),
    /// Everything known about matching models: the index's fields and, with --dir, the model
    /// file's detectors, layers, strand rule and window.
    #[command(after_help = "Examples:\n  \
        seqcnn models info --index deepbind/db.tsv D00328.003\n  \
        seqcnn models info --dir models/ rbfox1")]
    Info(Query),
}

#[derive(clap::Args)]
pub struct Query {
    /// DeepBind's model index (db.tsv).
    #[arg(long)]
    index: Option<PathBuf>,
    /// A directory of imported models (*.safetensors, as written by `seqcnn import deepbind`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Include models the index marks deprecated.
    #[arg(long)]
    all: bool,
    /// Model IDs or ID prefixes, protein names, or files of IDs.
    query: Vec<String>,
}

/// One model: its ID, descriptive fields by provenance key, and the model file if there is one.
struct Entry {
    info: IndexEntry,
    file: Option<(PathBuf, Model)>,
}

pub fn run(cmd: Models) -> Result<()> {
    let (q, detail) = match &cmd {
        Models::List(q) => (q, false),
        Models::Info(q) => (q, true),
    };
    let entries = entries(q)?;
    let wanted = queries(&q.query)?;
    let found: Vec<&Entry> = entries
        .iter()
        .filter(|e| wanted.is_empty() || wanted.iter().any(|w| w.matches(&e.info)))
        .filter(|e| {
            q.all || !e.info.deprecated() || wanted.iter().any(|w| w.names_exactly(&e.info.id))
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if detail {
        if found.is_empty() {
            return Err(
                seqcnn::Error::Config(format!("no model matches {}", q.query.join(", "))).into(),
            );
        }
        for (n, e) in found.iter().enumerate() {
            if n > 0 {
                writeln!(out)?;
            }
            write_info(&mut out, e)?;
        }
    } else {
        let mut header: Vec<&str> = vec!["ID"];
        header.extend(LIST_FIELDS.iter().map(|(col, _)| *col));
        if q.dir.is_some() {
            header.push("File");
        }
        writeln!(out, "{}", header.join("\t"))?;
        for e in found {
            let mut row = vec![e.info.id.clone()];
            row.extend(
                LIST_FIELDS
                    .iter()
                    .map(|(_, key)| e.info.get(key).unwrap_or("").to_string()),
            );
            if let Some((path, _)) = &e.file {
                row.push(path.display().to_string());
            }
            writeln!(out, "{}", row.join("\t"))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The columns of `models list` after the ID, header and provenance key: the index fields up to
/// the experiment details (not the citation and labels).
const LIST_FIELDS: &[(&str, &str)] = INDEX_FIELDS.split_at(7).0;

/// The models to search: those in --dir (described by their provenance, or by the index when
/// given), else the index's rows.
fn entries(q: &Query) -> Result<Vec<Entry>> {
    let index = q.index.as_deref().map(Index::read).transpose()?;
    let Some(dir) = &q.dir else {
        let Some(index) = index else {
            return Err(seqcnn::Error::Config(
                "nothing to search: give --index db.tsv (DeepBind's model index) or --dir DIR \
                 (imported models)"
                    .into(),
            )
            .into());
        };
        return Ok(index
            .entries
            .into_iter()
            .map(|info| Entry { info, file: None })
            .collect());
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| seqcnn::Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| seqcnn::Error::io(dir, e)))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let model = Model::load(&path)?;
        let id = model
            .meta
            .provenance
            .get("deepbind_id")
            .and_then(|v| v.as_str())
            .map(String::from)
            .or_else(|| model.meta.tasks.first().cloned())
            .unwrap_or_default();
        let info = match index.as_ref().and_then(|ix| ix.get(&id)) {
            Some(row) => row.clone(),
            None => IndexEntry {
                fields: INDEX_FIELDS
                    .iter()
                    .filter_map(|(_, key)| {
                        model
                            .meta
                            .provenance
                            .get(*key)
                            .and_then(|v| v.as_str())
                            .map(|v| (*key, v.to_string()))
                    })
                    .collect(),
                id,
            },
        };
        out.push(Entry {
            info,
            file: Some((path, model)),
        });
    }
    Ok(out)
}

/// One query: a model ID (or its prefix) or protein name, or an exact ID from a file of IDs.
enum Want {
    Text(String),
    Id(String),
}

impl Want {
    fn matches(&self, e: &IndexEntry) -> bool {
        match self {
            Want::Id(id) => e.id == *id,
            Want::Text(q) => {
                e.id.to_lowercase().starts_with(q)
                    || e.get("protein").is_some_and(|p| p.to_lowercase() == *q)
            }
        }
    }

    fn names_exactly(&self, id: &str) -> bool {
        match self {
            Want::Id(x) => x == id,
            Want::Text(q) => id.to_lowercase() == *q,
        }
    }
}

/// The queries: an existing file is read as IDs, one per line (`#` starts a comment).
fn queries(args: &[String]) -> Result<Vec<Want>> {
    let mut out = Vec::new();
    for a in args {
        let path = Path::new(a);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| seqcnn::Error::io(path, e))?;
            for line in text.lines() {
                let id = line.split('#').next().unwrap_or("").trim();
                if !id.is_empty() {
                    out.push(Want::Id(id.to_string()));
                }
            }
        } else {
            out.push(Want::Text(a.to_lowercase()));
        }
    }
    Ok(out)
}

/// `key<TAB>value` lines for one model.
fn write_info(out: &mut impl Write, e: &Entry) -> Result<()> {
    writeln!(out, "id\t{}", e.info.id)?;
    for (k, v) in &e.info.fields {
        writeln!(out, "{k}\t{v}")?;
    }
    let Some((path, m)) = &e.file else {
        return Ok(());
    };
    writeln!(out, "file\t{}", path.display())?;
    writeln!(out, "arch\t{}", m.arch.name)?;
    if !m.arch.description.is_empty() {
        writeln!(out, "description\t{}", m.arch.description)?;
    }
    writeln!(
        out,
        "strand\t{}",
        serde_json::to_string(&m.meta.strand)?.trim_matches('"')
    )?;
    match m.meta.scoring {
        Scoring::Plain => writeln!(out, "scoring\tplain")?,
        Scoring::DeepBind { window, average } => {
            let w = window.map_or("whole sequence".to_string(), |w| format!("{w} bp"));
            let pool = if average { "mean" } else { "max" };
            writeln!(out, "scoring\tdeepbind, window {w}, {pool} over windows")?;
        }
    }
    let n: usize = m.params.iter().map(|p| p.len()).sum();
    writeln!(out, "parameters\t{n}")?;
    for (spec, p) in m.net.params().iter().zip(&m.params) {
        writeln!(out, "param\t{}\t{:?}", spec.name, p.shape())?;
    }
    Ok(())
}
