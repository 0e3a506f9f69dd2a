// The library as notebooks see it: `import * as rr from "retail-repr"` (or "../dist/src" in this
// repo). Not everything in src/: the method's pieces a notebook calls, grouped as the notebooks
// tell the story. A file's other exports are one import away (`retail-repr/dist/src/<room>/<file>`).

// ---- where it runs: the engine and the machine ------------------------------------------------
export { tf } from "./engine/tf";
export { selectBackend } from "./engine/backend";
export { environmentInfo } from "./engine/info";
export { matMulGflops } from "./engine/microbench";

// ---- profiles: every size and setting as a plain object ----------------------------------------
export { getProfile, profile, withRun, PROFILES, PROFILE_NAMES } from "./config/profiles";
export type { Profile, ProfileName, TrainSizes, DataSizes, FinetuneRecipe } from "./config/profiles";
export { applyOverrides, parseSet } from "./config/overrides";
export { profileSchema, profileProblems } from "./config/schema";

// ---- data: the synthetic retail universe and its datasets ---------------------------------------
export { DATASET_NAMES, datasetDir, datasetDirOf, generateAll, testDrawSeed } from "./data/generate";
export { readManifest, resolveItem } from "./data/manifest";
export { filesOf, oneShotOf, pairsOf } from "./data/sets";
export { galleryJpeg, augmentedGalleryJpeg, thumbnails } from "./data/gallery";
export { studentNoiseAugment, TRAIN_AUGMENT } from "./data/images";
export { rngFrom, mixSeed } from "./data/rng";

// ---- models: ResNeXt + LCA, checkpoints ---------------------------------------------------------
export { createModel, disposeModel } from "./models/model";
export type { Model, ModelConfig } from "./models/model";
export { loadCheckpoint } from "./models/checkpoint";
export { featureMapSize, resolveArch, PRESETS } from "./models/resnext";
export { gapPool, lcaKernel } from "./models/lca";
export { survival } from "./models/noise";
export { largestBatch, checkStepFits } from "./models/memory";

// ---- losses and the miner -----------------------------------------------------------------------
export { supConLoss, pairLabels } from "./losses/supcon";
export { hardNegativeMask } from "./losses/mining";

// ---- the method: stages, their steps, sweeps on dev-like and training ----------------------------
export { registerStage, stages, representationNames } from "./pipeline/stages/registry";
export { trainedStep, checkpointRepresentation } from "./pipeline/stages/stage";
export type { Stage, Step, RepresentationSpec, PlanRow } from "./pipeline/stages/stage";
export {
  ensureData,
  ensureStep,
  stepTable,
  planSteps,
  trainStage,
  trainedModel,
  sweepOnDev,
  pseudolabel,
  finetune,
  pretrainedCheckpoint,
} from "./pipeline/steps";
export type { Sweep } from "./pipeline/sweep";
export { ONE_SHOT_SETS, DEV_SET, EVAL_SETS, ckptDir, runDir, initialModel, embeddingConfig, sgdConfig } from "./pipeline/runs";
export type { OneShotSet, EvalSet, StepOptions } from "./pipeline/runs";
export { teacherLrSweep, teacherEdgeSweep, chosenTeacher, teacherProfile } from "./pipeline/teacher-runs";
export { studentStartSweep, studentLrSweep, studentEdgeSweep, chosenStudent, studentProfile } from "./pipeline/student-runs";
export { finetuneName } from "./pipeline/finetune-runs";
export { chosenFinetune, finetuneChoice, finetuneSweeps } from "./pipeline/finetune-sweep";
export type { FinetuneResult, FinetuneSetting } from "./pipeline/finetune-runs";
export type { FinetuneSelection } from "./pipeline/selections";
export { FINETUNE_VARIANTS, type FinetuneVariant } from "./train/finetune";
export { readPseudolabels } from "./train/pseudolabel";
export { teacherBatchAnatomy, studentBatchAnatomy, finetuneBatchAnatomy } from "./train/anatomy";

// ---- probes on frozen embeddings, intervals, the paper's claims ---------------------------------
export { embedFiles } from "./train/embed";
export { embedOneShot, probe } from "./probe/probe";
export type { Embedded, ProbeScores } from "./probe/probe";
export { fitLogReg, logRegScores, logRegWeights, argmaxRows } from "./probe/logreg";
export { pairedDifference } from "./probe/paired";
export { holmAdjust } from "./probe/holm";
export { minimumDetectableDifference } from "./probe/power";
export { formatAccuracy } from "./probe/bootstrap";
export { addProduct, renderNewProduct } from "./probe/add-product";
export { evaluate, readMetrics, representationModel, oneNNAccuracy, pipelinePlan, testProducts } from "./pipeline/evaluate";
export { metricsSchema, METRICS_SCHEMA_VERSION } from "./pipeline/metrics";
export type { Metrics } from "./pipeline/metrics";
export { paperFindings } from "./pipeline/paper-findings";
export type { Finding } from "./pipeline/findings";

// ---- showing results: tables, figures, live training --------------------------------------------
export { showTable, toDataFrame } from "./report/dataframe";
export { showFigure } from "./report/plot";
export { showJpeg } from "./util/host";
export { writeReport } from "./util/reports";
export { reportTables } from "./report/paper-tables";
export { metricsFrame, findingsFrame } from "./report/frames";
export { checkpointRows, finetuneSweepRows, studentSweepRows, teacherSweepRows } from "./report/dev-choices";
export {
  barFigure,
  curvesFigure,
  embeddingMapsFigure,
  heatmapFigure,
  similarityBySameProduct,
  similarityHistogramFigure,
} from "./report/figures";
export {
  contrastRolesFigure,
  perAnchorLossFigure,
  similarityFigure,
  studentLossPartsFigure,
  targetCosineFigure,
  viewNames,
} from "./report/anatomy-figures";
export { pcaProject, umap2d } from "./report/umap";
export { liveTraining } from "./report/live";
export { checkAgainstLibrary } from "./report/check";
