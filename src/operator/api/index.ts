export * from './types.ts';
export { buildCrd, buildOpenApiSchema, renderCrdYaml, CRD_NAME, CRD_FILE, type CustomResourceDefinition } from './crd.ts';
export { RULES, type Rule, type Violation } from './rules.ts';
export { validateGatewayResource, formatFieldError, fieldPath, type FieldError, type ValidationResult } from './validate.ts';
export { parseGoDuration } from './duration.ts';
export { toStructuralSchema, type JSONSchemaProps } from './openapi.ts';
export { applyDefaults, withDefaults } from './defaults.ts';
