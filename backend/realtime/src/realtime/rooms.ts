/** The joined channels of each room (topic, public or private), for broadcast and presence fan-out (internal). */
import type { Channel } from './channel.js';

export class Rooms {
  private readonly rooms = new Map<string, Set<Channel>>();

  add(channel: Channel): void {
    let members = this.rooms.get(channel.roomKey);
    if (!members) this.rooms.set(channel.roomKey, (members = new Set()));
    members.add(channel);
  }

  remove(channel: Channel): void {
    const members = this.rooms.get(channel.roomKey);
    if (!members?.delete(channel)) return;
    if (members.size === 0) this.rooms.delete(channel.roomKey);
  }

  members(roomKey: string): Iterable<Channel> {
    return this.rooms.get(roomKey) ?? [];
  }
}

export const roomKey = (topic: string, isPrivate: boolean): string => `${isPrivate ? 'private' : 'public'}|${topic}`;
