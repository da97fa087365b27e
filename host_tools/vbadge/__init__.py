"""The inside of a virtual badge (host_tools/virtual_badge.py is its public
face and the `cloudpin virtual-badge` command).

Modules, one job each:
  badge        VirtualBadge: power, plug and the VM's life (boot, resets)
  serial_link  the host's pty: baud pacing and the relay thread
  console      what a board's console makes of the bytes: REPL modes,
               banner, the boot shim's markers
  boot_shim    the code the VM runs before its REPL, as a board's boot does
  vm_process   the micropython binary: finding it, its heap, its own pty
  vm_interrupt Ctrl-C as KeyboardInterrupt without breaking the VM
"""
