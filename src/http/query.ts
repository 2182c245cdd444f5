// Query-string versions of the service's object schemas: numbers and booleans arrive as text.
import { type TObject, type TProperties, type TSchema, Type, TypeGuard } from '@sinclair/typebox'
import { t } from 'elysia'

const keep = ['minimum', 'maximum', 'description', 'default', 'examples'] as const

/**
 * t.Numeric checks its range while decoding and throws a ValidationError of type "property" that does not
 * say which parameter it was (elysia 1.4.30, type-system/index.mjs). The options it copies carry this symbol,
 * so the error's schema still names the parameter; JSON (and so OpenAPI) never sees a symbol key.
 */
export const QueryName = Symbol('nbs.queryName')

function queryProperty(name: string, s: TSchema): TSchema {
  const options: Record<string | symbol, unknown> = { [QueryName]: name }
  for (const k of keep) if (s[k] !== undefined) options[k] = s[k]
  // t.Numeric accepts "20" and 20; multipleOf keeps an Integer's meaning.
  if (TypeGuard.IsInteger(s)) return t.Numeric({ ...options, multipleOf: 1 })
  if (TypeGuard.IsNumber(s)) return t.Numeric(options)
  if (TypeGuard.IsBoolean(s)) return t.BooleanString(options)
  return s
}

/** The same object schema for the query string, without `omit` (e.g. the id, which is in the path). */
export function querySchema<T extends TObject>(schema: T, omit: readonly string[] = [], extra: TProperties = {}): TObject {
  const props: TProperties = {}
  for (const [name, s] of Object.entries(schema.properties)) {
    if (omit.includes(name)) continue
    const q = queryProperty(name, s)
    props[name] = TypeGuard.IsOptional(s) ? Type.Optional(q) : q
  }
  return Type.Object({ ...props, ...extra }, { additionalProperties: false })
}
