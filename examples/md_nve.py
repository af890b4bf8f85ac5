"""NVE molecular dynamics of a 60-atom sheet with the bundled CNNAS model: 10 ps at 0.5 fs from
1000 K, atoms held in the plane; reports the total-energy drift per atom and the temperature.

    python examples/md_nve.py --structure graphene_pristine --temperature 1000 --ps 10
"""
from ase import units
from ase.md.verlet import VelocityVerlet
from sheet_md import drift, parser, report, run, sheet

args = parser(__doc__, temperature=1000, ps=10).parse_args()
atoms = sheet(args)
log = run(VelocityVerlet(atoms, timestep=args.timestep * units.fs), args)
slope, excursion = drift(log)
report("md_nve", "NVE molecular dynamics", args, log, [
    ("start temperature", f"{args.temperature:.0f} K"),
    ("mean temperature", f"{log['T'].mean():.0f} K (± {log['T'].std():.0f})"),
    ("total-energy drift (fit)", f"{slope:+.3f} meV/atom/ps ({slope * args.ps:+.3f} meV/atom over "
                                 f"the run)"),
    ("largest excursion of the total energy", f"{excursion:.3f} meV/atom"),
])
