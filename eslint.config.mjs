// Lint of the repository's TypeScript; `npm test` runs it through `npm run lint`.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "policy/node_modules/", "bin/", "out/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name` keeps a value for its place in a destructuring or a signature.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // A component's args interface extends the common host args and names the tier's own
      // (pulumi-eks style), even while it adds no field yet.
      "@typescript-eslint/no-empty-object-type": [
        "error",
        { allowInterfaces: "with-single-extends" },
      ],
      // The escapers and the parsers of daemon output match control characters on purpose.
      "no-control-regex": "off",
      // Patterns match column-aligned daemon output; literal spaces read like that output.
      "no-regex-spaces": "off",
    },
  },
  {
    // Tests build mistyped and hostile stacks on purpose and read untyped JSON back; they
    // require a module lazily where it must load after the Pulumi mocks are set.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-require-imports": "off",
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { module: "writable", require: "readonly" },
    },
  },
);
