//! The scale a mutation map is drawn on: sigmoid models on the logit difference (a well-trained
//! model saturates, so its probability differences vanish where the logits still differ by
//! several units), DeepBind models on their raw score, and on request the output scale.

use crate::arch::LossKind;
use crate::error::{Error, Result};
use crate::model::Model;

/// What a mutation map's colours show: the mutant's score minus the reference's, on this scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotScale {
    /// The network's raw output (the logit) of a sigmoid (`bce`) model.
    Logit,
    /// The output scale `predict` prints (a probability for sigmoid models).
    Prob,
    /// The network's raw output, whatever the model (DeepBind's score for imported models).
    Raw,
}

impl PlotScale {
    /// The scale a model's maps are drawn on unless asked otherwise: the logit for sigmoid
    /// models scored as the network's input, else the raw output (DeepBind's own score for
    /// imported DeepBind models, the value itself for regression models).
    pub fn default_for(model: &Model) -> PlotScale {
        if model.meta.scoring.is_plain() && model.arch.loss == LossKind::Bce {
            PlotScale::Logit
        } else {
            PlotScale::Raw
        }
    }

    /// An error when the scale does not apply to the model (`logit` needs a sigmoid model).
    pub fn check(self, model: &Model) -> Result<()> {
        if self == PlotScale::Logit && PlotScale::default_for(model) != PlotScale::Logit {
            return Err(Error::Config(
                "--plot-scale logit needs a sigmoid (bce) model scored as the network's input; \
                 use raw or prob"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether the map is drawn from raw network outputs (else from the output scale).
    pub fn raw(self) -> bool {
        self != PlotScale::Prob
    }

    /// The quantity's name on the map's colour bar and subtitle.
    ///
    /// ```
    /// use seqcnn::arch::Arch;
    /// use seqcnn::model::Model;
    /// use seqcnn::mutate::PlotScale;
    /// let m = Model::new(Arch::builtin("deepbind").unwrap(), vec!["t".into()],
    ///     &mut seqcnn::rng::seeded(1), 1.0).unwrap();
    /// assert_eq!(PlotScale::default_for(&m), PlotScale::Logit);
    /// assert_eq!(PlotScale::Logit.label(&m), "logit");
    /// assert_eq!(PlotScale::Prob.label(&m), "probability");
    /// ```
    pub fn label(self, model: &Model) -> &'static str {
        let deepbind = !model.meta.scoring.is_plain();
        match self {
            PlotScale::Logit => "logit",
            PlotScale::Prob if deepbind => "DeepBind score",
            PlotScale::Prob if model.arch.loss == LossKind::Bce => "probability",
            PlotScale::Prob => "score",
            PlotScale::Raw if deepbind => "DeepBind score",
            PlotScale::Raw if model.arch.loss == LossKind::Bce => "logit",
            PlotScale::Raw => "raw score",
        }
    }
}
