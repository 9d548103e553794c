/**
 * @module
 * The settings of an image upload (`preprocess`, `minConfidence`, …) from the query string and, for a form, its
 * fields: each at most once in all. A repeated setting has no one right reading (the first value was taken, so
 * `?minConfidence=0.5&minConfidence=0` passed a check the second would fail), so it is refused, naming the field.
 * Not the values' checks (the routes make them).
 */
import { ApiError } from './errors.ts';
import { fieldText, type FormPart } from './multipart-form.ts';

/**
 * Each of `keys` given once, from `query` or a field of `form` (a file under that name counts as given, and is
 * ignored as a value, as before); absent keys are absent.
 * @throws {ApiError} 400 `repeated_field` naming the first key given more than once.
 */
export function uploadSettings(
  keys: readonly string[],
  query: URLSearchParams,
  form: readonly FormPart[] = [],
): URLSearchParams {
  const settings = new URLSearchParams();
  for (const key of keys) {
    const inQuery = query.getAll(key);
    const inForm = form.filter((part) => part.name === key);
    const count = inQuery.length + inForm.length;
    if (count > 1) {
      throw new ApiError(
        400,
        'repeated_field',
        `\`${key}\` is given ${count} times (query string ${inQuery.length}, form ${inForm.length}); give each setting once`,
        { field: key, query: inQuery.length, form: inForm.length },
      );
    }
    if (inQuery.length) settings.set(key, inQuery[0]);
    else if (inForm.length && inForm[0].filename === null) settings.set(key, fieldText(inForm[0]));
  }
  return settings;
}
