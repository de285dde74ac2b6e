// Tokenizer and chat template from the model folder through @huggingface/transformers,
// with remote loading switched off: the folder is the only source of truth.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import type { ChatMessage } from '../backends/types.js';

interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  apply_chat_template(messages: ChatMessage[], options: Record<string, unknown>): unknown;
  eos_token_id?: number;
  chat_template?: string | null;
}

export class ModelTokenizer {
  private constructor(
    private readonly tok: HfTokenizer,
    /** Token ids that end an assistant turn: config, generation_config and tokenizer eos. */
    readonly stopIds: Set<number>,
  ) {}

  static async load(dir: string, configEos: number[]): Promise<ModelTokenizer> {
    if (!existsSync(join(dir, 'tokenizer.json'))) throw new UserError(`${dir}: missing tokenizer.json`);
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    let tok: HfTokenizer;
    try {
      tok = (await AutoTokenizer.from_pretrained(dir, { local_files_only: true })) as unknown as HfTokenizer;
    } catch (err) {
      throw new UserError(`${dir}: cannot load the tokenizer (${(err as Error).message})`);
    }
    const stops = new Set<number>(configEos);
    const genConfig = join(dir, 'generation_config.json');
    if (existsSync(genConfig)) {
      const eos = (JSON.parse(readFileSync(genConfig, 'utf8')) as { eos_token_id?: number | number[] }).eos_token_id;
      for (const id of Array.isArray(eos) ? eos : eos === undefined ? [] : [eos]) stops.add(id);
    }
    if (typeof tok.eos_token_id === 'number') stops.add(tok.eos_token_id);
    return new ModelTokenizer(tok, stops);
  }

  /** The text as is: no special tokens added. */
  encode(text: string): number[] {
    return [...this.tok.encode(text, { add_special_tokens: false })];
  }

  decode(ids: number[], skipSpecial = true): string {
    return this.tok.decode(ids, { skip_special_tokens: skipSpecial });
  }

  get hasChatTemplate(): boolean {
    return Boolean(this.tok.chat_template);
  }

  /** The model's chat template applied to the messages, with the assistant turn opened. */
  chatIds(messages: ChatMessage[]): number[] {
    if (!this.hasChatTemplate) throw new UserError('this model folder has no chat template (tokenizer_config.json chat_template); use plain text');
    const r = this.tok.apply_chat_template(messages, { add_generation_prompt: true, tokenize: true, return_tensor: false, return_dict: false });
    const ids = Array.isArray(r) ? r : (r as { input_ids: number[] }).input_ids;
    return ids.map(Number);
  }
}
