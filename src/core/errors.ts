/**
 * Domain errors. Services throw these; the API maps them to HTTP statuses in one place (api/errors.ts) and the
 * CLI maps them to messages and exit codes.
 */
export abstract class HangarError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** Dotted path of the offending field, when one field is at fault (for example `body.scope`). */
  readonly field: string | undefined;

  constructor(message: string, field?: string) {
    super(message);
    this.name = new.target.name;
    this.field = field;
  }
}

export class InvalidError extends HangarError {
  readonly status = 400;
  readonly code = 'invalid';
}

export class UnauthorizedError extends HangarError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

export class ForbiddenError extends HangarError {
  readonly status = 403;
  readonly code = 'forbidden';
}

export class NotFoundError extends HangarError {
  readonly status = 404;
  readonly code = 'not_found';
}

export class ConflictError extends HangarError {
  readonly status = 409;
  readonly code = 'conflict';
}
