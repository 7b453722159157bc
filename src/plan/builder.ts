/**
 * A small accumulator the tier planners write into; `finish()` sorts everything so the
 * plan is byte-identical however the planners were ordered.
 */
import {
  HostPlan,
  PlannedFile,
  Sysctl,
  PinnedDownload,
  DrainHooks,
  HealthProbe,
  Tier,
  HostAddresses,
} from "./types";

export class PlanBuilder {
  private readonly packages = new Set<string>();
  private readonly services = new Set<string>();
  private readonly sysctls = new Map<string, Sysctl>();
  private readonly files = new Map<string, PlannedFile>();
  private readonly downloads = new Map<string, PinnedDownload>();
  drain?: DrainHooks;
  health?: HealthProbe;

  constructor(
    readonly name: string,
    readonly hostname: string,
    readonly tier: Tier,
    readonly addresses: HostAddresses,
  ) {}

  package(...names: string[]): this {
    names.forEach((n) => this.packages.add(n));
    return this;
  }
  service(...names: string[]): this {
    names.forEach((n) => this.services.add(n));
    return this;
  }
  sysctl(key: string, value: string | number, module?: string): this {
    const prev = this.sysctls.get(key);
    if (prev && prev.value !== String(value))
      throw new Error(`${this.hostname}: sysctl ${key} planned twice (${prev.value} and ${value})`);
    this.sysctls.set(
      key,
      module ? { key, value: String(value), module } : { key, value: String(value) },
    );
    return this;
  }
  file(
    f: Omit<PlannedFile, "mode" | "owner" | "activate"> &
      Partial<Pick<PlannedFile, "mode" | "owner" | "activate">>,
  ): this {
    if (this.files.has(f.path)) throw new Error(`${this.hostname}: file ${f.path} planned twice`);
    this.files.set(f.path, { mode: "0644", owner: "root:root", activate: { kind: "none" }, ...f });
    return this;
  }
  /** The sysctls planned so far, sorted by key. */
  plannedSysctls(): Sysctl[] {
    return [...this.sysctls.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  download(d: PinnedDownload): this {
    this.downloads.set(d.name, d);
    return this;
  }

  finish(): HostPlan {
    const by =
      <T>(k: (t: T) => string) =>
      (a: T, b: T) =>
        k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0;
    const plan: HostPlan = {
      name: this.name,
      hostname: this.hostname,
      tier: this.tier,
      addresses: this.addresses,
      packages: [...this.packages].sort(),
      downloads: [...this.downloads.values()].sort(by((d) => d.name)),
      sysctls: [...this.sysctls.values()].sort(by((s) => s.key)),
      services: [...this.services].sort(),
      files: [...this.files.values()].sort(by((f) => f.path)),
    };
    if (this.drain) plan.drain = this.drain;
    if (this.health) plan.health = this.health;
    return plan;
  }
}
