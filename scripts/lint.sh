#!/usr/bin/env bash
# The linters `npm test` runs: eslint and prettier on the TypeScript, shellcheck on every shell
# program and pyflakes on every Python program of the repository. Programs are found by name
# (*.sh, *.py) or by their #! line, so a new one is linted without being listed here.
set -euo pipefail
cd "$(dirname "$0")/.."

npx --no-install eslint --max-warnings 0 .
npx --no-install prettier --check --log-level warn .

sh_with_shebang=() sh_plain=() python=()
while IFS= read -r -d '' f; do
  first=$(head -n 1 "$f")
  case "$first" in
    '#!'*python*) python+=("$f") ;;
    '#!'*sh*) sh_with_shebang+=("$f") ;;
    *)
      case "$f" in
        *.sh) sh_plain+=("$f") ;;
        *.py) python+=("$f") ;;
      esac
      ;;
  esac
done < <(find . \( -name node_modules -o -name .git -o -path ./test/golden -o -path ./out -o -path ./bin -o -name __pycache__ \) -prune \
  -o -type f \( -name '*.sh' -o -name '*.py' -o -perm -u+x \) -print0 | sort -z)

# A .sh file without a #! line is a POSIX sh fragment the apply bootstrap runs with `sh`.
if [ ${#sh_with_shebang[@]} -gt 0 ]; then shellcheck "${sh_with_shebang[@]}"; fi
if [ ${#sh_plain[@]} -gt 0 ]; then shellcheck -s sh "${sh_plain[@]}"; fi
# Debian's interpreter, the one the hosts run (pyflakes from python3-pyflakes).
if [ ${#python[@]} -gt 0 ]; then /usr/bin/python3 -m pyflakes "${python[@]}"; fi
echo "lint: eslint, prettier, shellcheck (${#sh_with_shebang[@]} + ${#sh_plain[@]} files), pyflakes (${#python[@]} files) clean"
