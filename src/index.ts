// The library API: everything the CLI does is available as typed functions.
export { loadSuite, parseSuite, SuiteError } from './suite/load.js';
export { suiteSchema, suiteJsonSchema, type Suite, type SuiteInput, type PersonaSpec, type MethodSpec } from './suite/schema.js';
export { runSuite, analyzeRun, runIdOf, type RunOptions, type RunResult, type RunAnalysis, type ModelAnalysis } from './runner/run.js';
export { createBackend, parseModelId, type ModelConfig } from './backends/registry.js';
export type { Backend, ChatMessage, ChatRequest, ChatResult, OptionProbsRequest, OptionProbsResult, SamplingOptions } from './backends/types.js';
export { BackendError } from './backends/types.js';
export { SimulatedPanel, SIM_DEFAULT_PROFILE, gradedResponseProbs } from './backends/sim.js';
export { getInstrument, instrumentIds, scoreAnswers, parseAnswer, DOMAINS, DOMAIN_NAMES, type Instrument, type InstrumentItem, type Profile, type Domain } from './instruments/index.js';
export { fidelityReport, personaFidelity, defaultPull, type Administration, type FidelityReport, type PersonaFidelity } from './metrics/fidelity.js';
export { cronbachAlpha, mcdonaldOmega } from './metrics/reliability.js';
export { bootstrap, bootstrapMean, type Estimate } from './metrics/bootstrap.js';
export { mean, sd, pearson, spearman, quantile } from './metrics/stats.js';
export { simulationRecovery, type RecoveryReport } from './metrics/recovery.js';
export { recoverySuite } from './probes/recovery-suite.js';
export { RunStore } from './store/store.js';
export { writeReport, fidelityCsv } from './report/export.js';
export { renderHtml } from './report/html.js';
export { readGguf, writeGguf } from './engine/formats/gguf.js';
export { readConfig, shrinkConfig, randomWeights, writeGgufModel, writeRandomModelFolder } from './engine/random-model.js';

// The activation engine and mechanism (TransformerLens-style hook names are the API).
export { Engine, logSoftmax, type EngineOptions, type ForwardOptions, type ForwardResult, type GenerateOptions, type GenerateResult, type KvCache, type TokenScope } from './engine/engine.js';
export { collectActivations, type ActivationRequest, type PooledActivations, type Pooling, type PromptInput } from './engine/activations.js';
export { addIntervention, capIntervention, checkInterventions, loadInterventionFile, neuronIntervention, type Intervention, type PositionScope } from './engine/interventions.js';
export { allHookNames, blockHook, resolveHooks, BLOCK_HOOKS, HOOK_EMBED, HOOK_FINAL, type BlockHook } from './engine/hooks.js';
export { archSpecOf, SUPPORTED_ARCHITECTURES, type ArchSpec, type ArchFamily } from './engine/arch.js';
export { readSafetensorsHeader, readTensorF32, writeSafetensors, type TensorToWrite } from './engine/formats/safetensors.js';
export { readVectorFile, writeVectorFile, readControlVector, writeControlVector, residPost, type VectorSet } from './engine/formats/vector-files.js';
export { computeVectors, saveVectors, monitorTranscript, type ExtractionResult, type LayerResult, type MonitoredVector, type MonitorRow, type SweepRow } from './probes/vectors.js';
export { extractVectors, sweepSteering, type ExtractOptions, type SweepOptions } from './commands/vectors.js';
export { computeAxis, saveAxis, capConfig, loadRoles, type AxisResult, type AxisLayer, type RoleSet } from './probes/axis.js';
export { buildAxis, type AxisOptions } from './commands/axis.js';
export { monitorRun, type DriftResult, type DriftOptions } from './commands/drift.js';
export { screenDataset, rankSamples, readDataset, type ScreenResult, type ScreenOptions } from './commands/screen.js';
export { compareCheckpoints, type CompareOptions, type CompareResult } from './commands/checkpoints.js';
export { findNeurons, ablateNeurons, type FindOptions, type FindResult, type AblateOptions, type AblateResult } from './commands/neurons.js';
export { startServer, SERVE_LIMITS, type ServeOptions, type RunningServer } from './server/openai-server.js';
