from callcenter.sim.runner import main

raise SystemExit(main())
