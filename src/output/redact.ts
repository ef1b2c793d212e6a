// Secrets never reach output, logs or error messages: every value registered here is masked wherever it appears.

const secrets = new Set<string>();

/** Registers a secret value (S3 secret key, tokens, values of *_SECRET/*_PASSWORD variables). */
export function addSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

/** Variable names whose values are secrets by convention. */
export function isSecretName(name: string): boolean {
  return /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ACCESS_KEY|CREDENTIAL|COOKIE)/i.test(name);
}

export function clearSecretsForTests(): void {
  secrets.clear();
}
