export async function runScenarios(_a: string[]): Promise<number> { return 1; }
