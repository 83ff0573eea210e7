export function describe(text: string, n: number): string {
  return `#${n}: ${text}`;
}
