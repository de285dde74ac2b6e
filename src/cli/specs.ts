// Every command's options, described once: the same declaration is what node:util
// parseArgs parses (Node's own argument parser: no dependency, maintained with Node) and
// what `--help` prints, so the help cannot drift from what a command accepts. A test
// checks every usage line of the README against these.

import { UserError } from '../util/errors.js';
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  default?: string;
  /** The value's placeholder in help (DIR, FILE, N). */
  value?: string;
  description: string;
  /** An older spelling kept working, not shown as its own line in help. */
  aliasOf?: string;
}

export interface CommandSpec {
  /** As typed: "run", "vectors extract". */
  name: string;
  summary: string;
  /** The positional arguments, as shown in help ("SUITE.yaml", "[RUN]"). */
  positionals?: string;
  options: Record<string, OptionSpec>;
  examples: string[];
}

const DIR = { type: 'string', value: 'DIR', description: 'project folder: the run store and reports (default ./persona-probe-out)' } as const;
const OUT_DIR_ALIAS = { type: 'string', value: 'DIR', description: 'older spelling of --dir', aliasOf: 'dir' } as const;
const STORE_ALIAS = { type: 'string', value: 'DIR', description: 'older spelling of --dir', aliasOf: 'dir' } as const;
const CONCURRENCY = { type: 'string', value: 'N', description: 'calls in flight at once (default 4)' } as const;

const GENERATION_BATCH_OPTION = { type: 'string', value: 'N', description: 'when the engine writes the answers: decode N together and read their activations while decoding (default 16; 1: one at a time, then a second pass)' } as const;

const INSTRUMENT_FILE = { type: 'string', value: 'FILE', description: "the file the instrument is read from: ipip-50 the BIG5 codebook.txt; epi, bfi-25, spi-135 psychTools' epi/bfi/spi.dictionary.csv; a YAML instrument its .yaml" } as const;
const INSTRUMENT_LANGUAGE = { type: 'string', value: 'LANG', description: 'the language of its items (ipip-neo-120: de, es, ja, ...; default en)' } as const;

export const COMMANDS = {
  demo: {
    name: 'demo',
    summary: 'run the built-in example suite (offline: on the simulated panel, labelled as such; --glass-box: through the real engine on a constructed model)',
    options: {
      model: { type: 'string', value: 'ID', description: 'a backend to run it on instead (see Models below)' },
      'glass-box': { type: 'boolean', description: 'run it through the real engine on a glass-box model: persona structure planted in random weights (not a language model), written to DIR/models/glass-box' },
      like: { type: 'string', value: 'DIR', description: 'with --glass-box: the model folder whose config and tokenizer it copies (default ../shared/models/smollm2-135m-instruct)' },
      dir: DIR,
      out: OUT_DIR_ALIAS,
      quiet: { type: 'boolean', description: 'no progress bar' },
    },
    examples: ['persona-probe demo', 'persona-probe demo --glass-box --like ./SmolLM2-135M-Instruct', 'persona-probe demo --model engine:./SmolLM2-135M-Instruct --dir demo-out'],
  },
  run: {
    name: 'run',
    summary: 'run a suite: every probe, through the store (a rerun resumes), then its report',
    positionals: 'SUITE.yaml',
    options: {
      model: { type: 'string', value: 'ID[,ID]', description: "run on these backends instead of the suite's models" },
      dir: DIR,
      out: OUT_DIR_ALIAS,
      quiet: { type: 'boolean', description: 'no progress bar' },
      fresh: { type: 'boolean', description: 'make every call again instead of serving it from the store' },
      personas: { type: 'string', value: 'ID[,ID]', description: 'run only these personas (and the conditions that hold them)' },
      blocks: { type: 'string', value: 'LIST', description: 'run only these blocks: fidelity, stickiness, consistency, twins' },
      families: { type: 'string', value: 'LIST', description: 'run only these attack families' },
      items: { type: 'string', value: 'N', description: 'administer only the first N inventory items' },
      'dry-run': { type: 'boolean', description: 'print the plan (calls per block and model, estimated tokens and cost) and call nothing' },
      prices: { type: 'string', value: 'FILE.json', description: 'with --dry-run: USD per million tokens, {"openai:gpt-4o-mini": {"input": 0.15, "output": 0.6}}' },
    },
    examples: ['persona-probe run examples/demo.yaml', 'persona-probe run suite.yaml --model openai:gpt-4o-mini,sim: --dir out', 'persona-probe run suite.yaml --model openai:gpt-4o-mini --dry-run --prices prices.json'],
  },
  report: {
    name: 'report',
    summary: "render a stored run's report (no model is called): one HTML file with --out FILE.html, else the report folder",
    positionals: '[RUN]',
    options: {
      out: { type: 'string', value: 'FILE.html', description: 'write one self-contained HTML file here' },
      dir: DIR,
      to: { type: 'string', value: 'DIR', description: "write the report folder (HTML, JSON, CSV) here instead of DIR/reports/RUN" },
    },
    examples: ['persona-probe report 3f2a --out report.html', 'persona-probe report --dir out --to /tmp/report'],
  },
  view: {
    name: 'view',
    summary: 'browse, compare and export every run under a folder in a local web page',
    positionals: '[DIR]',
    options: {
      dir: { ...DIR, description: 'the folder to browse (or give it as the argument; default ./persona-probe-out)' },
      host: { type: 'string', value: 'HOST', default: '127.0.0.1', description: 'address to listen on (loopback unless told otherwise)' },
      port: { type: 'string', value: 'PORT', default: '7878', description: 'port to listen on (0: any free port)' },
    },
    examples: ['persona-probe view', 'persona-probe view out --port 0'],
  },
  runs: {
    name: 'runs',
    summary: 'list the runs in a store',
    options: { dir: DIR, out: OUT_DIR_ALIAS },
    examples: ['persona-probe runs --dir out'],
  },
  score: {
    name: 'score',
    summary: 'score an answer sheet (item id -> answer) on an instrument',
    options: {
      instrument: { type: 'string', value: 'ID', default: 'ipip-neo-120', description: 'the instrument' },
      file: INSTRUMENT_FILE,
      language: INSTRUMENT_LANGUAGE,
      answers: { type: 'string', value: 'FILE', description: "a JSON object: item id -> answer (one of the instrument's option values, 1..5 on the IPIP inventories) or null" },
      json: { type: 'boolean', description: 'print the scores as JSON' },
    },
    examples: ['persona-probe score --answers answers.json', 'persona-probe score --instrument epi --file ../shared/data/human/psychtools_epiR/epi.dictionary.csv --answers epi.json', 'persona-probe items ipip-neo-120  # the item ids'],
  },
  items: {
    name: 'items',
    summary: "list an instrument's scales, options and items (ids, scales, keying, text): the ids `score` takes",
    positionals: '[INSTRUMENT]',
    options: { file: INSTRUMENT_FILE, language: INSTRUMENT_LANGUAGE, json: { type: 'boolean', description: 'print it as JSON' } },
    examples: ['persona-probe items ipip-neo-120', 'persona-probe items spi-135 --file ../shared/data/human/psychtools_spi/spi.dictionary.csv', 'persona-probe items my-inventory --file my-inventory.yaml'],
  },
  init: {
    name: 'init',
    summary: 'write a commented starter suite to edit (it runs as is on the simulated panel)',
    positionals: '[FILE]',
    options: {},
    examples: ['persona-probe init my-suite.yaml'],
  },
  schema: {
    name: 'schema',
    summary: 'print the suite JSON Schema (for editors)',
    options: {},
    examples: ['persona-probe schema > suite.schema.json'],
  },
  trace: {
    name: 'trace',
    summary: 'run a text through the engine and write the hooks it asks for as safetensors',
    options: {
      model: { type: 'string', value: 'DIR', description: 'a Hugging Face model folder (or hf:owner/repo)' },
      text: { type: 'string', value: 'TEXT', description: 'the text (tokenized as is)' },
      chat: { type: 'boolean', description: "make --text one user message under the model's chat template" },
      hooks: { type: 'string', value: 'LIST', default: 'blocks.*.hook_resid_post,ln_final.hook_normalized', description: 'hook names or patterns, comma-separated' },
      out: { type: 'string', value: 'FILE.safetensors', description: 'where to write the activations' },
      interventions: { type: 'string', value: 'FILE.yaml', description: 'add/cap interventions to apply' },
      threads: { type: 'string', value: 'N', description: 'CPU threads' },
    },
    examples: ['persona-probe trace --model ./SmolLM2-135M-Instruct --text "Who are you?" --chat --out acts.safetensors'],
  },
  'make-model': {
    name: 'make-model',
    summary: 'write a seeded random-weight model folder of a real shape (for tests and benchmarks; not a trained model)',
    options: {
      like: { type: 'string', value: 'DIR', description: 'a folder with config.json and the tokenizer to copy the shape from' },
      out: { type: 'string', value: 'DIR', description: 'the folder to write' },
      layers: { type: 'string', value: 'N', description: 'num_hidden_layers' },
      hidden: { type: 'string', value: 'N', description: 'hidden_size' },
      heads: { type: 'string', value: 'N', description: 'num_attention_heads' },
      'kv-heads': { type: 'string', value: 'N', description: 'num_key_value_heads' },
      intermediate: { type: 'string', value: 'N', description: 'intermediate_size' },
      arch: { type: 'string', value: 'ARCH', description: 'llama, mistral, qwen2 or qwen3' },
      seed: { type: 'string', value: 'N', default: '1', description: 'weight seed' },
      sharpness: { type: 'string', value: 'X', default: '1', description: 'embedding scale (larger: peakier next-token distributions)' },
      dtype: { type: 'string', value: 'F32|F16|BF16', default: 'F32', description: 'stored dtype' },
      shards: { type: 'string', value: 'N', default: '1', description: 'safetensors shards' },
      gguf: { type: 'string', value: 'FILE', description: 'also write the same weights as GGUF (BF16 for a BF16 folder, else F32)' },
      'glass-box': { type: 'boolean', description: 'plant persona structure in the weights (a glass-box model: known truth for recovery checks; writes glass-box.json)' },
      'persona-focus': { type: 'string', value: 'X', default: '20', description: 'with --glass-box: attention score of trait words (20: a sticky persona; about 3: one that dilutes as a conversation grows)' },
      'persona-layer': { type: 'string', value: 'L', default: '0', description: 'with --glass-box: the block that writes the persona level (a persona vector exists from blocks.L.hook_resid_post on)' },
    },
    examples: ['persona-probe make-model --like ../shared/models/smollm2-135m-instruct --out tiny --layers 2 --hidden 64', 'persona-probe make-model --like ../shared/models/smollm2-135m-instruct --out glass --glass-box --layers 4 --persona-layer 1'],
  },
  'checkpoints compare': {
    name: 'checkpoints compare',
    summary: "base vs tuned checkpoint: the shift of each Big Five domain (inventory), of a trait's judged score (with --judge) and of each persona-vector projection, with intervals",
    options: {
      base: { type: 'string', value: 'engine:DIR', description: 'the base checkpoint' },
      tuned: { type: 'string', value: 'engine:DIR', description: 'the tuned checkpoint (same architecture)' },
      vectors: { type: 'string', value: 'FILE[,FILE]', description: "persona-vector files: each vector's projection shift (at its recommended layer, else every layer it holds)" },
      items: { type: 'string', value: 'N', default: '8', description: 'inventory items per domain' },
      trait: { type: 'string', value: 'ID|FILE', description: "with --judge: a trait whose questions both models answer (greedy, unconditioned) and whose rubric the judge scores" },
      judge: { type: 'string', value: 'MODEL', description: 'the judge of the trait score (0..100) of each answer: the judged shift, paired by question' },
      questions: { type: 'string', value: 'N', default: '8', description: 'trait questions answered by each model' },
      'max-tokens': { type: 'string', value: 'N', default: '48', description: 'length of each answer' },
      seed: { type: 'string', value: 'N', default: '1', description: 'bootstrap seed' },
      out: { type: 'string', value: 'FILE.json', description: 'also write the result as JSON' },
    },
    examples: ['persona-probe checkpoints compare --base engine:./base --tuned engine:./tuned --trait extraversion-high --judge openai:gpt-4o-mini', 'persona-probe checkpoints compare --base engine:./Qwen2.5-7B-Instruct --tuned engine:./tuned --vectors vectors/extraversion.safetensors'],
  },
  'neurons find': {
    name: 'neurons find',
    summary: "rank one layer's MLP neurons by their response to a trait's instructions, their write onto a trait vector, and their change from a base checkpoint",
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the model (the tuned checkpoint when --base is given)' },
      layer: { type: 'string', value: 'L', description: 'the layer whose blocks.L.mlp.hook_post is read' },
      trait: { type: 'string', value: 'ID|FILE', description: "a trait whose instructions make the contexts (default: its domain's inventory items after each instruction)" },
      base: { type: 'string', value: 'engine:DIR', description: 'a base checkpoint of the same architecture: rank by how much what each neuron writes changed' },
      vectors: { type: 'string', value: 'FILE.safetensors', description: "a persona-vector file: rank by each neuron's write onto the layer's vector" },
      top: { type: 'string', value: 'N', default: '20', description: 'neurons listed per ranking' },
      items: { type: 'string', value: 'N', default: '4', description: 'inventory items per domain in the contexts' },
      out: { type: 'string', value: 'FILE.json', description: 'also write the rankings as JSON' },
    },
    examples: ['persona-probe neurons find --model engine:./tuned --base engine:./base --layer 20 --trait extraversion-high'],
  },
  'neurons ablate': {
    name: 'neurons ablate',
    summary: "switch neurons off and measure a trait domain's inventory score, against random neurons of the same count and layer",
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the model (the tuned checkpoint when --base is given)' },
      layer: { type: 'string', value: 'L', description: 'the layer of the neurons' },
      neurons: { type: 'string', value: 'N[,N]', description: 'neuron indices in blocks.L.mlp.hook_post' },
      domain: { type: 'string', value: 'O|C|E|A|N', description: 'the Big Five domain whose score is measured' },
      base: { type: 'string', value: 'engine:DIR', description: 'also measure the base with the same neurons off: the shift the tuning made, with and without them' },
      random: { type: 'string', value: 'N', default: '5', description: 'random sets of the same count to compare with' },
      seed: { type: 'string', value: 'N', default: '1', description: 'seed for the random sets' },
      items: { type: 'string', value: 'N', default: '8', description: "inventory items of the domain" },
      out: { type: 'string', value: 'FILE.json', description: 'also write the result as JSON' },
    },
    examples: ['persona-probe neurons ablate --model engine:./tuned --base engine:./base --layer 20 --neurons 312,1045 --domain E'],
  },
  'vectors extract': {
    name: 'vectors extract',
    summary: "extract a trait's persona vectors per layer from answers under positive and negative instructions",
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the model whose activations are read' },
      trait: { type: 'string', value: 'ID|FILE', description: 'a built-in trait (vectors traits) or a trait YAML' },
      out: { type: 'string', value: 'FILE.safetensors', description: 'where to write the vectors' },
      html: { type: 'string', value: 'FILE.html', description: 'also write the separation page' },
      'generate-with': { type: 'string', value: 'MODEL', description: 'another backend writes the answers' },
      judge: { type: 'string', value: 'MODEL', description: 'keep only answers a judge scores on the right side of --threshold' },
      threshold: { type: 'string', value: 'N', description: 'judge threshold, 0..100 (default 50)' },
      pca: { type: 'boolean', description: 'also the first principal component of paired differences' },
      'held-out': { type: 'string', value: 'SHARE', description: 'share of questions held out for separation (default 0.25)' },
      'max-tokens': { type: 'string', value: 'N', description: 'answer length (default 64)' },
      temperature: { type: 'string', value: 'X', description: 'answer temperature (default 0.7)' },
      seed: { type: 'string', value: 'N', description: 'seed (default 1)' },
      'choose-by': { type: 'string', value: 'separation|steering', default: 'separation', description: "how the layer is recommended: held-out separation, or steering effect (each layer's vector at -coef and +coef, the trait domain's inventory compared; Big Five poles)" },
      'steering-coef': { type: 'string', value: 'X', description: "with --choose-by steering: the coefficient, in units of the layer's difference of means (default 0.5)" },
      preset: { type: 'string', value: 'persona-vectors', description: "the persona-vector paper's pipeline: 10 rollouts at temperature 1, 1000 tokens, the 'You are a TRAIT assistant.' opening, trait and coherence judged, pairs masked jointly, layer by steering (needs --judge; any flag given overrides it)" },
      rollouts: { type: 'string', value: 'N', description: 'answers per instruction pair, question and side (default 1)' },
      coherence: { type: 'boolean', description: 'also judge coherence and drop answers below 50 (needs --judge)' },
      pairwise: { type: 'boolean', description: 'keep a positive and a negative answer only together, both passing the filters (needs --judge)' },
      prefix: { type: 'boolean', description: "open the system prompts with 'You are a TRAIT assistant.' / 'You are a helpful assistant.'" },
      dir: DIR,
      store: STORE_ALIAS,
      concurrency: CONCURRENCY,
      batch: GENERATION_BATCH_OPTION,
    },
    examples: ['persona-probe vectors extract --model engine:./SmolLM2-135M-Instruct --trait humor --out humor.safetensors --html humor.html', 'persona-probe vectors extract --model engine:./Qwen2.5-7B-Instruct --trait extraversion-high --preset persona-vectors --judge openai:gpt-4.1-mini --out e.safetensors'],
  },
  'vectors monitor': {
    name: 'vectors monitor',
    summary: "project each turn of a conversation (a transcript, or every stickiness conversation of a stored run) onto persona vectors or the Assistant axis",
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the model' },
      vectors: { type: 'string', value: 'FILE[,FILE]', description: 'vector files (persona vectors, or an axis file)' },
      transcript: { type: 'string', value: 'FILE.json', description: 'a JSON array of chat messages' },
      run: { type: 'string', value: 'RUN_ID', description: "a stored run's stickiness conversations instead: drift per condition, attack family and turn (stored as a run the viewer shows)" },
      dir: DIR,
      layer: { type: 'string', value: 'L', description: "the layer (default: each file's recommended layer)" },
      out: { type: 'string', value: 'FILE.json', description: 'write the rows as JSON' },
      html: { type: 'string', value: 'FILE.html', description: 'write the trajectory page' },
    },
    examples: ['persona-probe vectors monitor --model engine:DIR --vectors humor.safetensors --transcript conv.json --html drift.html', 'persona-probe vectors monitor --model engine:DIR --vectors axis.safetensors --run 3f2a9c1e0b7d --dir out --html drift.html'],
  },
  'vectors screen': {
    name: 'vectors screen',
    summary: "screen a fine-tuning dataset: each sample's push toward each trait (its response against the base model's own, projected on the vectors), the shift the dataset predicts, and the samples that push most",
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the base model (it writes its own responses and is read)' },
      vectors: { type: 'string', value: 'FILE[,FILE]', description: 'persona-vector files' },
      layer: { type: 'string', value: 'L', description: "the layer (default: each file's recommended layer)" },
      data: { type: 'string', value: 'FILE.jsonl', description: 'chat samples, one {"messages": [...]} per line, the last an assistant reply' },
      top: { type: 'string', value: 'N', default: '10', description: 'samples listed, pushing most toward the first vector' },
      'drop-top': { type: 'string', value: 'N', description: 'with --filtered: leave out the N samples that push most toward the first vector' },
      filtered: { type: 'string', value: 'FILE.jsonl', description: 'write the dataset without the dropped samples' },
      'max-tokens': { type: 'string', value: 'N', default: '64', description: "length of the base model's own responses" },
      out: { type: 'string', value: 'FILE.json', description: 'also write every sample\'s projections as JSON' },
      tuned: { type: 'string', value: 'engine:DIR', description: 'a checkpoint tuned from the base: its measured projection shift is set beside the predicted one' },
    },
    examples: ['persona-probe vectors screen --model engine:./base --vectors vectors/sycophancy.safetensors --data train.jsonl --drop-top 50 --filtered train.screened.jsonl'],
  },
  'vectors export': {
    name: 'vectors export',
    summary: 'write persona vectors as a llama.cpp control vector, or for a PyTorch trainer (preventative steering)',
    options: {
      vectors: { type: 'string', value: 'FILE', description: 'a persona-vector file' },
      format: { type: 'string', value: 'FORMAT', default: 'llama.cpp', description: "llama.cpp, or pytorch: one tensor per decoder layer named after the Hugging Face module whose output it is added to" },
      out: { type: 'string', value: 'FILE', description: 'where to write (.gguf for llama.cpp, .safetensors for pytorch)' },
      coef: { type: 'string', value: 'X', description: 'pytorch: the steering coefficient to record, sign included (--coef=-4 for a negative one: it steers away from the trait during training)' },
      layers: { type: 'string', value: 'L[,L]', description: "pytorch: the layers to export (default: the file's recommended layer)" },
      'model-hint': { type: 'string', value: 'ARCH', description: "the model's architecture name (llama, qwen2, ...)" },
      method: { type: 'string', value: 'mean|pca', default: 'mean', description: 'which vectors' },
      scale: { type: 'string', value: 'X', default: '1', description: 'multiply the vectors' },
    },
    examples: ['persona-probe vectors export --vectors humor.safetensors --format llama.cpp --out humor.gguf --model-hint llama', 'persona-probe vectors export --vectors sycophancy.safetensors --format pytorch --coef 5 --out steer-during-training.safetensors'],
  },
  'vectors import': {
    name: 'vectors import',
    summary: 'read a llama.cpp / repeng control vector into a persona-vector file',
    options: {
      from: { type: 'string', value: 'FILE.gguf', description: 'the control vector' },
      out: { type: 'string', value: 'FILE.safetensors', description: 'where to write' },
    },
    examples: ['persona-probe vectors import --from happy.gguf --out happy.safetensors'],
  },
  'vectors sweep': {
    name: 'vectors sweep',
    summary: 'steer with a vector at several coefficients and layers; measure the inventory, a judge and perplexity',
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the model' },
      vectors: { type: 'string', value: 'FILE', description: 'a persona-vector file' },
      coefs: { type: 'string', value: 'LIST', description: 'coefficients, e.g. --coefs=-8,-4,0,4,8' },
      layers: { type: 'string', value: 'L[,L]', description: "layers (default: the file's recommended layer)" },
      'items-per-domain': { type: 'string', value: 'N', description: 'short inventory size (default 2)' },
      judge: { type: 'string', value: 'MODEL', description: 'a judge of the trait' },
      trait: { type: 'string', value: 'ID|FILE', description: "the trait the judge rates (its questions and rubric)" },
      questions: { type: 'string', value: 'N', description: 'questions judged per point (default 4)' },
      out: { type: 'string', value: 'FILE.json', description: 'write the rows as JSON' },
      html: { type: 'string', value: 'FILE.html', description: 'write the sweep page' },
      dir: DIR,
      store: STORE_ALIAS,
    },
    examples: ['persona-probe vectors sweep --model engine:DIR --vectors humor.safetensors --coefs=-8,0,8 --html sweep.html'],
  },
  'vectors list': {
    name: 'vectors list',
    summary: "what a vector file holds: its layers, width, norms, recommended layer and metadata",
    positionals: 'FILE',
    options: { json: { type: 'boolean', description: 'print it as JSON' } },
    examples: ['persona-probe vectors list vectors/extraversion.safetensors'],
  },
  'vectors traits': {
    name: 'vectors traits',
    summary: 'list the built-in trait definitions',
    options: {},
    examples: ['persona-probe vectors traits'],
  },
  'axis build': {
    name: 'axis build',
    summary: 'build the Assistant axis from role-play answers (default minus mean of roles, per layer)',
    options: {
      model: { type: 'string', value: 'engine:DIR', description: 'the model' },
      out: { type: 'string', value: 'FILE.safetensors', description: 'where to write the axis' },
      roles: { type: 'string', value: 'FILE', description: 'role archetypes YAML (default content/roles.yaml)' },
      'limit-roles': { type: 'string', value: 'N', description: 'use the first N roles' },
      instructions: { type: 'string', value: 'N', description: 'instructions per role' },
      questions: { type: 'string', value: 'N', description: 'questions per instruction' },
      'max-tokens': { type: 'string', value: 'N', description: 'answer length' },
      'generate-with': { type: 'string', value: 'MODEL', description: 'another backend writes the answers' },
      map: { type: 'string', value: 'FILE.json', description: 'write the role map' },
      html: { type: 'string', value: 'FILE.html', description: 'write the role-map page' },
      preset: { type: 'string', value: 'assistant-axis', description: "the Assistant-axis paper's pipeline as far as it is built: the default also answers under neutral system prompts, and a judge keeps only role answers that fully play the role (needs --judge)" },
      'neutral-prompts': { type: 'boolean', description: 'the default also answers under four neutral system prompts, pooled with no system prompt' },
      judge: { type: 'string', value: 'MODEL', description: 'a role-play judge: only role answers it says fully play the role are kept' },
      batch: GENERATION_BATCH_OPTION,
      dir: DIR,
      store: STORE_ALIAS,
    },
    examples: ['persona-probe axis build --model engine:DIR --out axis.safetensors --limit-roles 20 --html axis.html'],
  },
  'axis cap-config': {
    name: 'axis cap-config',
    summary: 'write an interventions YAML that caps the axis projection at a percentile of the default',
    options: {
      axis: { type: 'string', value: 'FILE', description: 'an axis file' },
      layers: { type: 'string', value: 'L[,L]', description: 'layers to cap (default: the band)' },
      band: { type: 'string', value: 'FROM-TO', default: '0.72-0.83', description: "without --layers: the contiguous layers from FROM to TO of the model's depth (the paper capped layers 46-53 of 64)" },
      percentile: { type: 'string', value: 'P', default: '25', description: 'the floor, as a percentile of the default assistant' },
      calibrate: { type: 'string', value: 'token|answer', default: 'token', description: "the distribution the percentile is taken of: every token of the default's answers (what capping acts on), or each answer's mean" },
      out: { type: 'string', value: 'FILE.yaml', description: 'where to write (default: print)' },
    },
    examples: ['persona-probe axis cap-config --axis axis.safetensors --out capped.yaml', 'persona-probe axis cap-config --axis axis.safetensors --layers 18,19,20 --out capped.yaml'],
  },
  serve: {
    name: 'serve',
    summary: 'an OpenAI-compatible server over the engine, with steered and capped personas as model names',
    options: {
      model: { type: 'string', value: 'DIR', description: 'the model folder (engine:DIR)' },
      name: { type: 'string', value: 'NAME', description: "the base model's name in requests (default: the folder's name)" },
      interventions: { type: 'string', value: 'FILE.yaml', description: 'interventions for the base name' },
      alias: { type: 'string', multiple: true, value: 'A=FILE.yaml', description: 'serve NAME+A with these interventions (repeatable)' },
      vectors: { type: 'string', value: 'DIR', description: 'persona vectors served as NAME+TRAIT@COEF[:LAYER]' },
      host: { type: 'string', value: 'HOST', default: '127.0.0.1', description: 'address (beyond loopback only with a token)' },
      port: { type: 'string', value: 'PORT', default: '8800', description: 'port' },
      'token-env': { type: 'string', value: 'VAR', description: 'the environment variable holding the bearer token (default PERSONA_PROBE_SERVE_TOKEN)' },
      threads: { type: 'string', value: 'N', description: 'CPU threads' },
    },
    examples: ['persona-probe serve --model engine:./SmolLM2-135M-Instruct --name smollm2 --alias capped=capped.yaml'],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** Thrown for --help: main prints the text and exits 0. */
export class HelpShown extends Error {
  constructor(readonly text: string) {
    super('help');
  }
}

export function helpText(spec: CommandSpec): string {
  const shown = Object.entries(spec.options).filter(([, o]) => !o.aliasOf);
  const aliases = Object.entries(spec.options).filter(([, o]) => o.aliasOf);
  const flag = (name: string, o: OptionSpec) => `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
  const width = Math.max(0, ...shown.map(([n, o]) => flag(n, o).length));
  const lines = [
    `persona-probe ${spec.name}${spec.positionals ? ` ${spec.positionals}` : ''}${shown.length ? ' [options]' : ''}`,
    '',
    spec.summary,
    ...(shown.length ? ['', 'Options:', ...shown.map(([n, o]) => `  ${flag(n, o).padEnd(width)}  ${o.description}${o.default !== undefined ? ` (default ${o.default})` : ''}${o.multiple ? ' (repeatable)' : ''}`)] : []),
    ...(aliases.length ? ['', `Older spellings still accepted: ${aliases.map(([n, o]) => `--${n} (= --${o.aliasOf})`).join(', ')}`] : []),
    '  --help'.padEnd(width + 4) + '  this text',
    '',
    'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
  ];
  return lines.join('\n');
}

type Parsed<S extends CommandSpec> = ReturnType<typeof parseArgs<{ options: S['options']; allowPositionals: true; strict: true }>>;

/** Parse a command's arguments against its spec; --help (or -h) shows the command's help instead. */
export function parseCommand<S extends CommandSpec>(spec: S, args: string[]): Parsed<S> {
  if (args.includes('--help') || args.includes('-h')) throw new HelpShown(helpText(spec));
  const options = Object.fromEntries(Object.entries(spec.options).map(([n, o]) => [n, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}) }]));
  const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  if (!spec.positionals && parsed.positionals.length) throw Object.assign(new TypeError(`Unexpected argument '${parsed.positionals[0]}'. ${spec.name} takes no positional arguments (see: persona-probe ${spec.name} --help)`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
  return parsed as unknown as Parsed<S>;
}

/** `vectors` and `axis` take a subcommand: their help lists them. */
/** A whole-number option (at least `min`), or one line naming the command and option. */
export function integerOption(command: string, name: string, v: string | undefined, min = 0): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) throw new UserError(`${command}: --${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${v === undefined ? 'nothing' : `"${v}"`}`);
  return n;
}

export type CommandGroup = 'vectors' | 'axis' | 'neurons' | 'checkpoints';

/**
 * A command group's dispatch: no subcommand shows the group's help (exit 2), --help shows it
 * (exit 0), a known one runs, anything else is one line naming the known ones.
 */
export async function runGroup(group: CommandGroup, args: string[], io: { log(s: string): void }, handlers: Record<string, (rest: string[]) => Promise<number> | number>): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.log(groupHelp(group));
    return sub === undefined ? 2 : 0;
  }
  const handler = handlers[sub];
  if (!handler) throw new UserError(`${group}: unknown command "${sub}" (${Object.keys(handlers).join(', ')}; see persona-probe ${group} --help)`);
  return handler(rest);
}

export function groupHelp(group: CommandGroup): string {
  const subs = (Object.keys(COMMANDS) as CommandName[]).filter((n) => n.startsWith(`${group} `));
  const width = Math.max(...subs.map((n) => n.length));
  return [`persona-probe ${group} <command> [options]`, '', 'Commands:', ...subs.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`), '', `persona-probe ${group} <command> --help for its options and examples`].join('\n');
}

