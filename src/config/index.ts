// The config layer's public API (see docs/CONFIG.md).
export { loadSettings, type LoadOptions } from './load.js';
export { configOf, loadConfig, type BuildConfig, type ClusterConfig, type Config, type DeployConfig, type MigrationSettings, type SshConfig, type StoreConfig } from './config.js';
export { resolveEnvironment, resolveBuildHost, hostKeyPolicy, type ResolvedEnvironment } from './resolve.js';
export { requireVars, requirementsFor, validateSettings, knownEnvironments, type CommandRequirements, type Requirement } from './validate.js';
export { parseHostSpec, parseHostList, parseNodeSpec, parseNodeList, splitList, type NodeTarget, type Where } from './hosts.js';
export { VARIABLES, describeVariable, isKnownVariable, suggestVariable } from './variables.js';
export { describeSource, formatLocation } from './settings.js';
export type { ConfigVar, ConfigWarning, HookDef, Location, Settings, ValueSource } from './types.js';
