import { LineCounter, parseDocument } from 'yaml';
import type { Tags } from 'yaml';
import { ConfigError } from './errors.js';
import type { ConfigIssue, ConfigWarning } from './errors.js';

const BOOL_TAG = 'tag:yaml.org,2002:bool';
// PyYAML (what Patroni reads YAML with) resolves YAML 1.1 booleans, but not the single letters y/n.
const PYYAML_TRUE = /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/;
const PYYAML_FALSE = /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;

function pyyamlBooleans(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag !== 'object' || tag.tag !== BOOL_TAG || !('test' in tag) || !tag.test) return tag;
    const scalar = tag;
    const isTrue = scalar.test?.test('true') === true;
    return { ...scalar, test: isTrue ? PYYAML_TRUE : PYYAML_FALSE };
  });
}

const PARSE_OPTIONS = { version: '1.1', customTags: pyyamlBooleans, prettyErrors: false } as const;

export interface ParsedYaml {
  readonly value: unknown;
  readonly warnings: readonly ConfigWarning[];
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Parses YAML the way Patroni's PyYAML does (YAML 1.1 scalars, merge keys, last duplicate key wins).
 * Syntax errors throw a `ConfigError` naming the source and the line.
 */
export function parseYaml(text: string, source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { ...PARSE_OPTIONS, lineCounter });
  const issues: ConfigIssue[] = [];
  const warnings: ConfigWarning[] = [];
  for (const error of document.errors) {
    const position = lineCounter.linePos(error.pos[0]);
    const entry: ConfigIssue = {
      source,
      key: '',
      line: position.line,
      column: position.col,
      message:
        error.code === 'DUPLICATE_KEY'
          ? 'duplicate key, the last value wins'
          : `YAML syntax error: ${firstLine(error.message)}`,
    };
    if (error.code === 'DUPLICATE_KEY') warnings.push(entry);
    else issues.push(entry);
  }
  const [first, ...rest] = issues;
  if (first) throw new ConfigError([first, ...rest]);
  for (const warning of document.warnings) {
    const position = lineCounter.linePos(warning.pos[0]);
    warnings.push({ source, key: '', line: position.line, column: position.col, message: firstLine(warning.message) });
  }
  return { value: document.toJS({ maxAliasCount: 1000 }) as unknown, warnings };
}

/** Parses one environment value as YAML (flow list or mapping), as Patroni does; undefined when it does not parse. */
export function parseYamlValue(text: string): unknown {
  const document = parseDocument(text, PARSE_OPTIONS);
  if (document.errors.length > 0) return undefined;
  return document.toJS() as unknown;
}
