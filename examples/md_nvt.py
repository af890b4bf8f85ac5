"""NVT molecular dynamics of a 60-atom sheet with the bundled CNNAS model: a Nosé–Hoover chain
thermostat (the paper's thermostat) at 1000 K, 0.5 fs, atoms held in the plane; reports the
temperature it holds and the potential energy.

    python examples/md_nvt.py --structure hbn_pristine --temperature 1000 --ps 10
"""
from sheet_md import nose_hoover, parser, report, run, sheet

args = parser(__doc__, temperature=1000, ps=10).parse_args()
atoms = sheet(args)
log = run(nose_hoover(atoms, args), args)
settled = log["t"] >= log["t"][-1] / 5  # after the first fifth of the run
report("md_nvt", "NVT molecular dynamics (Nosé–Hoover chain)", args, log, [
    ("target temperature", f"{args.temperature:.0f} K"),
    ("mean temperature after the first fifth", f"{log['T'][settled].mean():.0f} K "
                                               f"(± {log['T'][settled].std():.0f})"),
    ("mean potential energy after the first fifth", f"{log['epot'][settled].mean():.4f} eV/atom"),
])
